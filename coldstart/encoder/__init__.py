"""Text to vectors: the encoder's modules, the served encoder and re-ranker, model versions, the vector cache."""
