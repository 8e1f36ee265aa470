"""Home Depot and MovieLens loaders implementing the protocols of datasets/README.md exactly."""
from __future__ import annotations

import csv
import hashlib
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from coldstart.errors import ColdstartError

REPO_ROOT = Path(__file__).resolve().parents[2]
HIT_RELEVANCE = 3.0
MIN_POSITIVES, N_CLICKS, N_TRUTH, MAX_TAGS = 25, 5, 20, 10


class DatasetMissingError(ColdstartError):
    """A dataset file the evaluation needs is not where we looked."""


def datasets_root(root: str | Path | None = None) -> Path:
    """The datasets folder: `root`, else $COLDSTART_DATASETS, else ../shared/datasets beside the repo."""
    chosen = root or os.environ.get("COLDSTART_DATASETS") or REPO_ROOT.parent / "shared" / "datasets"
    return Path(chosen)


def _require(path: Path) -> Path:
    if not path.is_file():
        raise DatasetMissingError(f"expected dataset file {path}; set COLDSTART_DATASETS to the datasets folder")
    return path


@dataclass(frozen=True)
class Catalogue:
    """Items in a fixed order: `ids[i]` has text `texts[i]`."""

    name: str
    ids: np.ndarray
    texts: list[str]

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class Query:
    """A test query with its judged products (product id -> mean relevance 1..3)."""

    text: str
    judgements: dict[int, float]

    @property
    def relevant(self) -> set[int]:
        return {pid for pid, rel in self.judgements.items() if rel >= HIT_RELEVANCE}


@dataclass(frozen=True)
class HomeDepot:
    """Catalogue, train-split rows (term, product id, relevance) and the test queries."""

    catalogue: Catalogue
    train: list[tuple[str, int, float]]
    test_queries: list[Query]

    def train_queries(self) -> list[Query]:
        """The train split's terms with a product rated 3.0, as test queries are built: for
        choices that involve no training (an analyzer, a fusion constant), never the test split.
        A model fine-tuned on the train split has seen them, so its figures here flatter it."""
        judged: dict[str, dict[int, float]] = defaultdict(dict)
        for term, pid, rel in self.train:
            judged[term][pid] = rel
        return [Query(t, j) for t, j in judged.items() if any(r >= HIT_RELEVANCE for r in j.values())]


def is_test_term(term: str) -> bool:
    """The protocol's split: sha1 of the stripped, lower-cased term, modulo 5 == 0."""
    return int(hashlib.sha1(term.strip().lower().encode("utf-8")).hexdigest(), 16) % 5 == 0


def load_home_depot(root: str | Path | None = None) -> HomeDepot:
    """Read home_depot/train.csv (Latin-1) and apply the split and test-query rules."""
    path = _require(datasets_root(root) / "home_depot" / "train.csv")
    titles: dict[int, str] = {}
    train: list[tuple[str, int, float]] = []
    test: dict[str, dict[int, float]] = defaultdict(dict)
    with path.open(encoding="latin-1", newline="") as fh:
        for row in csv.DictReader(fh):
            pid, term, rel = int(row["product_uid"]), row["search_term"], float(row["relevance"])
            titles.setdefault(pid, row["product_title"])
            if is_test_term(term):
                test[term][pid] = rel
            else:
                train.append((term, pid, rel))
    catalogue = Catalogue("home_depot", np.fromiter(titles, dtype=np.int64), list(titles.values()))
    queries = [Query(t, j) for t, j in test.items() if any(r >= HIT_RELEVANCE for r in j.values())]
    return HomeDepot(catalogue, train, queries)


@dataclass(frozen=True)
class MovieLensUser:
    """One evaluated user: the first clicks fed in, the next positives held out."""

    user_id: int
    clicks: tuple[int, ...]
    truth: tuple[int, ...]


@dataclass(frozen=True)
class MovieLens:
    """Catalogue (all movies.csv rows), every user's time-ordered positives, and the test users."""

    catalogue: Catalogue
    positives: dict[int, list[int]]
    users: list[MovieLensUser]
    positive_counts: np.ndarray = field(repr=False)


def movie_text(title: str, genres: str, tags: list[str]) -> str:
    """Title, genres and up to ten tags as one line."""
    text = f"{title}. Genres: {genres.replace('|', ', ')}."
    return f"{text} Tags: {', '.join(tags[:MAX_TAGS])}." if tags else text


def _movie_tags(path: Path) -> dict[int, list[str]]:
    tags: dict[int, list[str]] = defaultdict(list)
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            tag, mine = row["tag"].strip(), tags[int(row["movieId"])]
            if tag and tag.lower() not in {t.lower() for t in mine}:
                mine.append(tag)
    return tags


def load_movielens(root: str | Path | None = None) -> MovieLens:
    """Read movielens_small and build the 412 users (time order, ties by movieId as text)."""
    base = datasets_root(root) / "movielens_small"
    tags = _movie_tags(_require(base / "tags.csv"))
    ids, texts = [], []
    with _require(base / "movies.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            mid = int(row["movieId"])
            ids.append(mid)
            texts.append(movie_text(row["title"], row["genres"], tags.get(mid, [])))
    events: dict[int, list[tuple[int, str]]] = defaultdict(list)
    with _require(base / "ratings.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if float(row["rating"]) >= 4.0:
                events[int(row["userId"])].append((int(row["timestamp"]), row["movieId"]))
    positives = {uid: [int(m) for _, m in sorted(ev)] for uid, ev in sorted(events.items())}
    users = [
        MovieLensUser(uid, tuple(seq[:N_CLICKS]), tuple(seq[N_CLICKS : N_CLICKS + N_TRUTH]))
        for uid, seq in positives.items()
        if len(seq) >= MIN_POSITIVES
    ]
    id_array = np.asarray(ids, dtype=np.int64)
    position = {mid: i for i, mid in enumerate(ids)}
    counts = np.zeros(len(ids), dtype=np.int64)
    for seq in positives.values():
        np.add.at(counts, [position[m] for m in seq], 1)
    return MovieLens(Catalogue("movielens", id_array, texts), positives, users, counts)
