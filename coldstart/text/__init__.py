"""Item text and text retrieval: what an item is embedded from, BM25 indexes, fusion with the dense list."""
