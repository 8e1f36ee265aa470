"""The pipeline simulation's world and score: MovieLens users as events, what they click, the report.

A simulated user signs up with words built from their first positives (the protocol's onboarding
clicks: "Films I loved: …"), makes those clicks, then in each round looks at their latest list
and clicks every shown item among their held-out positives (each at most once). Reward = those
clicks. This module builds the events and keeps the score; streams/tools/simulate.py drives them
through a real broker and worker.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from coldstart.evaluation.datasets import MovieLens

GENRES_MARK = ". Genres: "


@dataclass(frozen=True)
class SimUser:
    """A simulated user: their signup words, onboarding clicks and what they would click."""

    user_id: str
    description: str
    onboarding: tuple[str, ...]
    wants: frozenset[str]


@dataclass
class RunResult:
    """One exploration rate's run: clicks per round, and every click with where it came from."""

    label: str
    explore_rate: float
    rewards: list[int] = field(default_factory=list)  # clicks in each round
    clicks: list[dict[str, Any]] = field(default_factory=list)  # round, user, item, list, ...
    explored_shown: int = 0  # items shown with the exploration reason
    explored_clicked: int = 0
    seconds: float = 0.0

    @property
    def cumulative(self) -> list[int]:
        return np.cumsum(self.rewards, dtype=np.int64).tolist()


def split_movie_text(text: str) -> tuple[str, str]:
    """(title, the rest) of the evaluation's movie text "Title. Genres: …. Tags: …."."""
    title, mark, rest = text.partition(GENRES_MARK)
    return (title, f"Genres: {rest}") if mark else (text, "")


def movielens_catalog(data: MovieLens, keep: Iterable[str] = (), size: int = 0
                      ) -> list[dict[str, Any]]:
    """`catalog` events for the movies: every one (size 0), else the movies in `keep` and the most
    liked others up to `size` items. Title as title; genres and tags as description."""
    ids = [str(m) for m in data.catalogue.ids]
    chosen = set(ids)
    if size:
        order = np.argsort(-data.positive_counts, kind="stable")
        chosen = set(keep)
        for i in order:
            if len(chosen) >= size:
                break
            chosen.add(ids[i])
    events = []
    for item_id, text in zip(ids, data.catalogue.texts):
        if item_id in chosen:
            title, rest = split_movie_text(text)
            events.append({"item_id": item_id, "title": title[:500], "description": rest})
    return events


def movielens_users(data: MovieLens, count: int) -> list[SimUser]:
    """The protocol's first `count` users (by user id): onboarding = first 5 positives, wants =
    the next 20; their signup words name the onboarding films and their commonest genres."""
    titles = dict(zip((str(m) for m in data.catalogue.ids),
                      (split_movie_text(t) for t in data.catalogue.texts)))
    out = []
    for user in data.users[:count]:
        onboarding = tuple(str(m) for m in user.clicks)
        out.append(SimUser(f"ml-{user.user_id}", signup_words([titles[m] for m in onboarding]),
                           onboarding, frozenset(str(m) for m in user.truth)))
    return out


def signup_words(movies: Sequence[tuple[str, str]]) -> str:
    """"Films I loved: A; B. Mostly drama, comedy and romance." from (title, "Genres: …") pairs."""
    genres: Counter[str] = Counter()
    for _, rest in movies:
        listed = rest.removeprefix("Genres: ").split(". Tags:")[0].rstrip(".")
        genres.update(g.strip().lower() for g in listed.split(",") if g.strip())
    top = [g for g, _ in genres.most_common(3) if g != "(no genres listed)"]
    text = "Films I loved: " + "; ".join(title for title, _ in movies) + "."
    if top:
        text += " Mostly " + (", ".join(top[:-1]) + " and " + top[-1] if len(top) > 1 else top[0])
        text += "."
    return text[:2000]


def clicks_for(shown: Sequence[str], wants: frozenset[str], clicked: set[str]) -> list[str]:
    """The shown items the user wanted and has not clicked yet, in list order."""
    return [item for item in dict.fromkeys(shown) if item in wants and item not in clicked]


def report(results: Sequence[RunResult], meta: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON report: the run's settings and, per rate, rewards per round and in total."""
    return {**meta, "runs": [{
        "label": r.label, "explore_rate": r.explore_rate, "total_clicks": sum(r.rewards),
        "clicks_per_round": r.rewards, "cumulative": r.cumulative,
        "explored_shown": r.explored_shown, "explored_clicked": r.explored_clicked,
        "seconds": round(r.seconds, 1), "clicks": r.clicks} for r in results]}


def plot_rounds(results: Sequence[RunResult], path: Path | str, title: str) -> Path:
    """Cumulative clicks after each round (top) and clicks in each round (below), one line per
    exploration rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, per) = plt.subplots(2, 1, figsize=(7, 6), sharex=True,
                                   gridspec_kw={"height_ratios": [2, 1]})
    for r in results:
        rounds = np.arange(1, len(r.rewards) + 1)
        line, = top.plot(rounds, r.cumulative, marker="o",
                         label=f"{r.label} (total {sum(r.rewards)})")
        per.plot(rounds, r.rewards, marker=".", color=line.get_color())
    top.set_ylabel("cumulative clicks")
    top.set_title(title, fontsize="medium")
    top.legend(fontsize="small")
    per.set_ylabel("clicks in the round", fontsize="small")
    per.set_yscale("symlog", linthresh=10)  # a round with no clicks stays on the chart
    per.set_xlabel("round")
    per.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
