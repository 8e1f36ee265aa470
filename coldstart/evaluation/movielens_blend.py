"""MovieLens rankers that learn as the stream goes: the ratings replayed in time order, live.

Every rating >= 4.0 is a click (lower ones are views when `views` is set), fed in time order to
Popularity and Cooccurrence. An evaluated user's own rows are held back until their 5th click:
at that moment the user is ranked from what *other* users did before (a profile built from the 5
clicks with with_interaction, nothing from the future), then their held-back rows join the
stream. One replay ranks every variant; `replay_rankers` gives one `rank(users, k)` per variant.
"""
from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from coldstart.errors import ColdstartError
from coldstart.evaluation import metrics as M
from coldstart.evaluation.datasets import N_CLICKS, MovieLens, MovieLensUser, datasets_root
from coldstart.index.flat import FlatIndex
from coldstart.ranking.blend import BlendConfig, BlendWeights, score_candidates
from coldstart.ranking.cooccurrence import Cooccurrence, CooccurrenceConfig
from coldstart.ranking.popularity import Popularity
from coldstart.ranking.profile import Profile, with_interaction

VARIANTS: dict[str, BlendWeights | None] = {
    "live_popularity": BlendWeights(0.0, 0.0, 1.0),
    "content": BlendWeights(1.0, 0.0, 0.0),
    "collaborative": BlendWeights(0.0, 1.0, 0.0),
    "popularity+collaborative": BlendWeights(0.0, 0.3, 1.0),
    "blend": None,  # BlendConfig's evidence-weighted default
}
REPLAY_VARIANTS = tuple(VARIANTS)


@dataclass(frozen=True)
class ReplayConfig:
    """The live structures' settings for MovieLens (years, not days, between ratings)."""

    popularity_half_life_days: float = 365.0
    cooccurrence: CooccurrenceConfig = field(default_factory=lambda: CooccurrenceConfig(
        half_life_days=730.0))
    blend: BlendConfig = field(default_factory=BlendConfig)
    views: bool = False  # feed ratings below 4.0 as views
    variants: tuple[str, ...] = tuple(VARIANTS)


Event = tuple[int, int, str, str]  # (ts in s, userId, movieId as text, action)


def rating_stream(views: bool = False) -> list[Event]:
    """All ratings as (ts, user, movie, action), sorted; ties by user, then movieId as text."""
    path = datasets_root() / "movielens_small" / "ratings.csv"
    out = []
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            positive = float(row["rating"]) >= 4.0
            if positive or views:
                out.append((int(row["timestamp"]), int(row["userId"]), row["movieId"],
                            "click" if positive else "view"))
    return sorted(out)


def replay(data: MovieLens, item_vectors: np.ndarray | None, k: int = 20,
           config: ReplayConfig = ReplayConfig(),
           users: Sequence[MovieLensUser] | None = None) -> dict[str, dict[int, list[int]]]:
    """variant -> user_id -> top-k movie ids, each user ranked at their 5th click."""
    wanted = {u.user_id: u for u in (users if users is not None else data.users)}
    index = movie_index(data, item_vectors)
    popularity = Popularity(config.popularity_half_life_days)
    cooc = Cooccurrence(config.cooccurrence)
    recent: dict[int, list[str]] = defaultdict(list)
    held: dict[int, list[Event]] = defaultdict(list)
    ranked: dict[str, dict[int, list[int]]] = {v: {} for v in config.variants}

    def feed(ts: int, user: int, movie: str, action: str) -> None:
        popularity.update(movie, action, ts * 1000)
        cooc.update(recent[user][-config.cooccurrence.window:], movie, action, ts * 1000)
        recent[user] = recent[user][-config.cooccurrence.window:] + [movie]

    for event in rating_stream(config.views):
        user = event[1]
        if user not in wanted:
            feed(*event)
            continue
        held[user].append(event)
        if event[3] == "click" and sum(e[3] == "click" for e in held[user]) == N_CLICKS:
            clicks = [e for e in held[user] if e[3] == "click"]
            target = wanted.pop(user)
            if tuple(int(e[2]) for e in clicks) != target.clicks:
                raise ColdstartError(f"replay order disagrees with the protocol for user {user}")
            profile = _profile(clicks, index)
            for variant in config.variants:
                ranked[variant][user] = _rank(profile, index, cooc, popularity, variant, k, config)
            for e in held.pop(user):
                feed(*e)
    return ranked


class ReplayRanker:
    """One variant of a finished replay, behind the evaluation's `rank(users, k)`."""

    def __init__(self, name: str, lists: dict[int, list[int]]) -> None:
        self.name, self.lists = name, lists

    def rank(self, users: Sequence[MovieLensUser], k: int = 20) -> tuple[np.ndarray, np.ndarray]:
        ids = np.full((len(users), k), -1, dtype=np.int64)
        for r, user in enumerate(users):
            row = self.lists[user.user_id][:k]
            ids[r, : len(row)] = row
        return ids, np.zeros(ids.shape)


def replay_rankers(data: MovieLens, item_vectors: np.ndarray | None,
                   config: ReplayConfig = ReplayConfig(), k: int = 20,
                   users: Sequence[MovieLensUser] | None = None) -> dict[str, ReplayRanker]:
    """Run the replay once; one ranker per variant (content needs item vectors)."""
    if item_vectors is None:
        config = replace(config, variants=tuple(v for v in config.variants if v != "content"))
    lists = replay(data, item_vectors, k, config, users)
    return {name: ReplayRanker(name, by_user) for name, by_user in lists.items()}


def replay_rankers_for(data: MovieLens, names: Sequence[str],
                       item_vectors: np.ndarray | None) -> dict[str, ReplayRanker]:
    """The named replay variants (none: no replay), for evaluation/run.py's ranker table."""
    wanted = tuple(n for n in names if n in VARIANTS)
    return replay_rankers(data, item_vectors, ReplayConfig(variants=wanted)) if wanted else {}


def movie_index(data: MovieLens, item_vectors: np.ndarray | None) -> FlatIndex:
    """Every movie under its id as text (zero vectors without item vectors: no content term)."""
    vectors = item_vectors if item_vectors is not None else np.zeros((len(data.catalogue), 1))
    index = FlatIndex(vectors.shape[1])
    index.upsert([str(m) for m in data.catalogue.ids], np.asarray(vectors, dtype=np.float32))
    return index


def _profile(clicks: list[Event], index: FlatIndex) -> Profile:
    profile: Profile | None = None
    for ts, _, movie, action in clicks:
        profile = with_interaction(profile, movie, index.vector(movie), action, ts * 1000)
    assert profile is not None
    return profile


def _rank(profile: Profile, index: FlatIndex, cooc: Cooccurrence, popularity: Popularity,
          variant: str, k: int, config: ReplayConfig) -> list[int]:
    weights = VARIANTS[variant]
    blend = config.blend if weights is None else replace(config.blend, cold=weights, warm=weights)
    s = score_candidates(profile, index, cooc, popularity, exclude=profile.recent, config=blend)
    order = sorted(range(len(s.ids)), key=lambda i: (-s.scores[i], s.ids[i]))[:k]
    return [int(s.ids[i]) for i in order]


def evaluate_replay(data: MovieLens, item_vectors: np.ndarray | None,
                    config: ReplayConfig = ReplayConfig(),
                    users: Sequence[MovieLensUser] | None = None) -> dict[str, dict[str, float]]:
    """recall@20, nDCG@20 (binary) and coverage@20 per variant, as `evaluate_movielens` reports."""
    users = list(users if users is not None else data.users)
    out = {}
    for name, ranker in replay_rankers(data, item_vectors, config, 20, users).items():
        ids, _ = ranker.rank(users, 20)
        pairs = [(row, set(u.truth)) for row, u in zip(ids, users)]
        out[name] = {
            "recall@20": float(np.mean([M.recall_at_k(r, t, 20) for r, t in pairs])),
            "ndcg@20": float(np.mean([M.binary_ndcg_at_k(r, t, 20) for r, t in pairs])),
            "coverage@20": M.catalogue_coverage(ids, len(data.catalogue), 20),
        }
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m coldstart.evaluation.movielens_blend --out reports`: the variants, as a report."""
    import argparse
    import time
    from pathlib import Path

    from coldstart.encoder.encoder import load_encoder
    from coldstart.evaluation.datasets import load_movielens
    from coldstart.evaluation.report import markdown_table, write_report
    from coldstart.evaluation.vector_cache import item_vectors

    parser = argparse.ArgumentParser(prog="python -m coldstart.evaluation.movielens_blend")
    parser.add_argument("--out", default="reports")
    args = parser.parse_args(argv)
    started, data, encoder = time.time(), load_movielens(), load_encoder()
    results = evaluate_replay(data, item_vectors(encoder, data.catalogue))
    meta = {"model": encoder.version, "protocol": "5 clicks, next 20 positives; causal replay",
            "seconds": round(time.time() - started, 1)}
    write_report(results, Path(args.out), "movielens_live", meta)
    print(markdown_table(results), end="")


if __name__ == "__main__":
    main()
