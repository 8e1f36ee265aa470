"""BM25 over item texts that takes upserts and deletes, for the worker's text retrieval.

The dense index misses exact words a shopper types (a brand, a size, "1/2 in."); BM25 catches
them. It runs over two kinds of terms (an `Analyzer`): whole words, English plurals made singular
("doors" finds "Door"), and character trigrams, which still match when the shopper misspells a
word ("toliet"), uses another form of it ("tiling") or runs two together ("dishwasher" against
"dish washer"). Chinese, Japanese and Korean text has no spaces between words: there a "word" is
each character and each pair of neighbouring characters. Scores equal
coldstart.evaluation.bm25.BM25 over the live items (same terms, k1, b and idf), so the figures
measured offline are what a worker serves.
"""
from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np

# CJK scripts: Han (with extension A and compatibility ideographs), kana and Hangul syllables
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN = re.compile(r"[a-z0-9]+")
_RUN = re.compile(f"[a-z0-9]+|[{_CJK}]+")
_CJK_CHAR = re.compile(f"[{_CJK}]")


def _runs(text: str) -> list[str]:
    """Lower-cased alphanumeric runs and runs of CJK characters, in order."""
    lowered = text.lower()
    return _RUN.findall(lowered) if _CJK_CHAR.search(lowered) else _TOKEN.findall(lowered)


def singular(word: str) -> str:
    """An English plural's singular, by its ending only ("doors" → "door", "batteries" →
    "battery", "boxes" → "box"); short words, numbers, codes and "-ss/-us/-is" words unchanged."""
    if len(word) <= 3 or not word.isascii() or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _singular_runs(text: str) -> list[str]:
    """`_runs` with English plurals made singular."""
    return [singular(run) for run in _runs(text)]


def tokenize(text: str) -> list[str]:
    """Lower-cased alphanumeric runs; a CJK run (written without spaces) gives its characters and
    each pair of neighbours, so "跑鞋" matches "跑鞋" best and "跑步鞋" still a little:
    "防雨外套" → "防", "雨", "外", "套", "防雨", "雨外", "外套"."""
    terms: list[str] = []
    for run in _runs(text):
        if run[0] < "\u3040":  # ASCII letters and digits: a word
            terms.append(run)
        else:
            terms += [*run, *(run[i:i + 2] for i in range(len(run) - 1))]
    return terms


def words(text: str) -> list[str]:
    """`tokenize`'s terms with English plurals made singular, so "doors" finds "Door"."""
    return [singular(term) for term in tokenize(text)]


def char_trigrams(text: str) -> list[str]:
    """Every 3 characters of the words (plurals made singular) and CJK runs joined by one space,
    with a space at each end: "Toliet seats" → " to", "tol", "oli", "lie", "iet", "et ", "t s",
    " se", "sea", "eat", "at "."""
    joined = f" {' '.join(_singular_runs(text))} "
    return [joined[i:i + 3] for i in range(len(joined) - 2)] if len(joined) > 2 else []


def trigram_query_weights(text: str) -> dict[str, float]:
    """A query's trigrams, each word's together weighing 1 (each trigram 1 / the length of the word
    its middle character belongs to; one across a space, the mean of its two words' shares), so
    a long word does not outweigh a short one by its many trigrams: for "illustrated dog training
    guide", "illustrated" alone would otherwise count as much as "dog" and "guide" together."""
    runs = _singular_runs(text)
    joined = f" {' '.join(runs)} "
    share: list[float] = [0.0]  # per character of `joined`: its word's share; a space between two
    for n, run in enumerate(runs):
        share += [1.0 / len(run)] * len(run)
        if n < len(runs) - 1:
            share.append(-1.0)  # a space between two words, resolved below
    share.append(0.0)
    weights: dict[str, float] = {}
    for i in range(len(joined) - 2):
        middle = share[i + 1]
        weight = middle if middle >= 0 else (share[i] + share[i + 2]) / 2
        weights[joined[i:i + 3]] = weights.get(joined[i:i + 3], 0.0) + weight
    return weights


def term_counts(terms: Callable[[str], list[str]]) -> Callable[[str], dict[str, float]]:
    """Query weights that are plain term counts (a repeated query term counts each time)."""
    return lambda text: {term: float(n) for term, n in Counter(terms(text)).items()}


@dataclass(frozen=True)
class Analyzer:
    """What a text's terms are, how much each term of a query weighs, and the BM25 constants
    that suit them."""

    name: str
    terms: Callable[[str], list[str]]
    k1: float = 1.2
    b: float = 0.75
    query_weights: Callable[[str], dict[str, float]] | None = None  # None: term counts

    def query(self, text: str) -> dict[str, float]:
        """The query's terms and the weight of each."""
        return (self.query_weights or term_counts(self.terms))(text)


# k1, b and the singular forms chosen on Home Depot's 5,550 train-split queries, never the test
# split (docs/decisions/singular-words.md)
WORDS = Analyzer("words", words, k1=0.9, b=0.5)
# k1 and b chosen on Home Depot's 5,550 train-split queries, never the test split, and so were the
# per-word query weights (python -m coldstart.evaluation.fusion_sweep; docs/decisions/rrf-k.md)
TRIGRAMS = Analyzer("trigrams", char_trigrams, k1=0.9, b=0.5, query_weights=trigram_query_weights)
SERVED = (WORDS, TRIGRAMS)  # the BM25 lists a worker fuses, in order, before the dense one


class LexicalIndex:
    """Okapi BM25 (k1, b; idf log(1 + (N − df + 0.5) / (df + 0.5))) over the live items.

    Postings are compact arrays (slot, term count) appended to on upsert. A delete only marks
    its slot dead and lowers the document frequencies; dead postings are skipped when read and
    the whole index is rebuilt from the live texts once dead slots outnumber live ones.
    """

    def __init__(self, analyzer: Analyzer = WORDS) -> None:
        self.analyzer = analyzer
        self._reset()

    def _reset(self) -> None:
        self._slot: dict[str, int] = {}
        self._ids: list[str | None] = []
        self._texts: list[str | None] = []  # kept to find a deleted item's terms again
        self._lengths = np.zeros(0, dtype=np.float64)  # 0 for dead slots; > 0 for a slot in any posting
        self._total_length = 0.0
        self._postings: dict[str, tuple[array, array]] = {}  # term -> (slots, counts)
        self._df: dict[str, int] = {}  # term -> live items that have it
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # term -> live (slots, counts)

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._slot

    def upsert(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Add or replace items' texts."""
        if len(ids) != len(texts):
            raise ValueError(f"expected one text per id, got {len(ids)} ids and {len(texts)} texts")
        self.delete([i for i in ids if i in self._slot])
        self._grow(len(self._ids) + len(ids))
        for item_id, text in zip(ids, texts):
            self._add(item_id, text)

    def delete(self, ids: Collection[str]) -> None:
        """Remove items; unknown ids are ignored."""
        for item_id in ids:
            slot = self._slot.pop(item_id, None)
            if slot is None:
                continue
            for term in set(self.analyzer.terms(self._texts[slot] or "")):
                self._df[term] -= 1
                self._arrays.pop(term, None)
                if not self._df[term]:
                    del self._df[term], self._postings[term]
            self._total_length -= self._lengths[slot]
            self._lengths[slot] = 0.0
            self._ids[slot] = self._texts[slot] = None
        if len(self._ids) - len(self._slot) > max(1024, len(self._slot)):
            self._compact()

    def search(self, text: str, k: int, exclude: Collection[str] = ()) -> tuple[list[str], np.ndarray]:
        """The k best-scoring items (score > 0) for `text`, best first; equal scores by slot."""
        scores = self.scores(text)
        for item_id in exclude:
            slot = self._slot.get(item_id)
            if slot is not None:
                scores[slot] = 0.0
        hits = np.flatnonzero(scores > 0)
        if len(hits) > k:
            hits = hits[np.argpartition(-scores[hits], k - 1)[:k]]
        hits = hits[np.lexsort((hits, -scores[hits]))]
        return [self._ids[s] for s in hits.tolist()], scores[hits]  # type: ignore[misc]

    def scores(self, text: str) -> np.ndarray:
        """BM25 of every slot (0 for dead ones), each query term weighted by the analyzer's
        `query` (words: a repeated term counts each time).

        A text has dozens of trigrams; the work is gathered into a few array operations over all
        its terms' postings rather than a few per term, which dominated on small catalogues."""
        n = len(self._slot)
        terms = [(term, times) for term, times in self.analyzer.query(text).items() if term in self._df]
        if not n or not terms:
            return np.zeros(len(self._ids), dtype=np.float64)
        avg, k1, b = self._total_length / n, self.analyzer.k1, self.analyzer.b
        postings = [self._posting_arrays(term) for term, _ in terms]
        slots = np.concatenate([p[0] for p in postings])
        counts = np.concatenate([p[1] for p in postings]).astype(np.float64)
        df = np.array([self._df[term] for term, _ in terms], dtype=np.float64)
        times = np.array([t for _, t in terms], dtype=np.float64)
        idf = np.repeat(times * np.log1p((n - df + 0.5) / (df + 0.5)), [len(p[0]) for p in postings])
        norm = k1 * (1 - b + b * self._lengths[slots] / avg)
        return np.bincount(slots, idf * counts * (k1 + 1) / (counts + norm), minlength=len(self._ids))

    def _add(self, item_id: str, text: str) -> None:
        slot = len(self._ids)
        self._ids.append(item_id)
        self._texts.append(text)
        self._slot[item_id] = slot
        terms = Counter(self.analyzer.terms(text))
        length = float(sum(terms.values()))
        self._lengths[slot] = length
        self._total_length += length
        for term, count in terms.items():
            postings = self._postings.get(term)
            if postings is None:
                postings = self._postings[term] = (array("i"), array("f"))
            postings[0].append(slot)
            postings[1].append(count)
            self._df[term] = self._df.get(term, 0) + 1
            self._arrays.pop(term, None)

    def _posting_arrays(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        cached = self._arrays.get(term)
        if cached is None:
            postings = self._postings[term]
            slots, counts = np.array(postings[0], dtype=np.int32), np.array(postings[1], dtype=np.float32)
            live = self._lengths[slots] > 0  # a live item in a posting has at least that term
            cached = self._arrays[term] = (slots[live], counts[live])
        return cached

    def _grow(self, size: int) -> None:
        if size > len(self._lengths):
            extra = max(1024, size - len(self._lengths), len(self._lengths))
            self._lengths = np.concatenate([self._lengths, np.zeros(extra, np.float64)])

    def _compact(self) -> None:
        """Rebuild from the live items, so dead slots stop costing memory and time."""
        live = [(item_id, self._texts[slot]) for item_id, slot in self._slot.items()]
        self._reset()
        self._grow(len(live))
        for item_id, text in live:
            self._add(item_id, text or "")
