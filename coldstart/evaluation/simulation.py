"""A closed-loop simulation: users are shown blended lists and click what they would have liked.

Users arrive in time order; each first clicks their onboarding items (organic clicks), then is
shown `rounds` lists of k items and clicks every shown item among their held-out positives. Every
click updates Popularity, Cooccurrence and the profile as the live loop would, and carries its
list's id, so the user's ServedLog attributes it to the list's strategy (a Thompson-sampling arm:
reward = the list got a click) and to the item's click-rate estimate; every shown item counts an
impression. Background events (other users' organic clicks) are fed in time order between
arrivals. Reward = clicks on recommendations.
"""
from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from coldstart.attribution import Served, ServedLog
from coldstart.evaluation.datasets import N_CLICKS, MovieLens, load_movielens
from coldstart.evaluation.movielens_blend import movie_index, rating_stream
from coldstart.index.base import ItemIndex
from coldstart.ranking.bandit import Estimates, ThompsonBandit
from coldstart.ranking.blend import STRATEGIES, BlendConfig, recommend_blended
from coldstart.ranking.cooccurrence import Cooccurrence, CooccurrenceConfig
from coldstart.ranking.explain import EXPLORE
from coldstart.ranking.popularity import Popularity
from coldstart.ranking.profile import Profile, with_interaction


@dataclass(frozen=True)
class SimUser:
    """A user: arrival time (ms), organic clicks first, the items they click when shown them."""

    user_id: str
    arrival_ts: int
    onboarding: tuple[str, ...]
    wants: frozenset[str]


@dataclass(frozen=True)
class World:
    """Simulated users, background (ts ms, user, item, action) events and the item index."""

    users: list[SimUser]
    background: list[tuple[int, str, str, str]]
    index: ItemIndex


@dataclass(frozen=True)
class SimulationConfig:
    """Exploration share, lists per user, strategies the bandit picks from, seed."""

    explore_rate: float = 0.0
    rounds: int = 5
    k: int = 10
    strategies: tuple[str, ...] = tuple(STRATEGIES)  # one name: a fixed strategy, no bandit
    seed: int = 0
    popularity_half_life_days: float = 365.0
    cooccurrence: CooccurrenceConfig = field(default_factory=CooccurrenceConfig)
    blend: BlendConfig = field(default_factory=BlendConfig)


@dataclass
class SimulationResult:
    """Clicks per served list (in serving order), exploration counts, the bandit's final state."""

    rewards: np.ndarray
    explored_shown: int
    explored_clicks: int
    bandit: dict

    @property
    def cumulative(self) -> np.ndarray:
        return np.cumsum(self.rewards)


def simulate(world: World, config: SimulationConfig = SimulationConfig()) -> SimulationResult:
    """Run the closed loop once; deterministic for a given world, config and seed."""
    rng = np.random.default_rng(config.seed)
    blend = replace(config.blend, explore_rate=config.explore_rate)
    popularity = Popularity(config.popularity_half_life_days)
    cooc = Cooccurrence(config.cooccurrence)
    bandit = ThompsonBandit(config.strategies)
    items = Estimates()  # per-item impressions and clicks: who is rarely shown
    recent: dict[str, list[str]] = defaultdict(list)
    rewards: list[int] = []
    explored = [0, 0]

    def click(user: str, item: str, action: str, ts: int) -> None:
        popularity.update(item, action, ts)
        cooc.update(recent[user], item, action, ts)
        mine = [i for i in recent[user] if i != item] + [item]
        recent[user] = mine[-config.cooccurrence.window:]

    events = _merged(world)
    for ts, kind, payload in events:
        if kind == "background":
            _, user, item, action = payload
            click(user, item, action, ts)
            continue
        u: SimUser = payload
        profile: Profile | None = None
        for item in u.onboarding:
            click(u.user_id, item, "click", ts)
            profile = with_interaction(profile, item, world.index.vector(item), "click", ts)
        shown: set[str] = set()
        log = ServedLog()
        for r in range(config.rounds):
            arm = bandit.choose(rng) if len(bandit.arms) > 1 else bandit.arms[0]
            picks = recommend_blended(profile, world.index, cooc, popularity, k=config.k,
                                      exclude=shown | set(u.onboarding), shown=items, rng=rng,
                                      weights=STRATEGIES[arm], config=blend)
            rec_id = f"{u.user_id}/{r}"
            log = log.served(rec_id, Served(arm, tuple(p.item_id for p in picks),
                                            tuple(p.item_id for p in picks if p.reason == EXPLORE)))
            bandit.shown([arm])
            items.shown([p.item_id for p in picks])
            hits = [p.item_id for p in picks if p.item_id in u.wants and p.item_id not in shown]
            shown.update(p.item_id for p in picks)
            explored[0] += sum(p.reason == EXPLORE for p in picks)
            for item in hits:  # each click carries rec_id, as a real one carries recommendation_id
                log, source, first = log.attribute(rec_id, item)
                if source is not None and first:
                    bandit.clicked(source.arm)  # the list's first click rewards its strategy
                explored[1] += source is not None and item in source.explored
                items.clicked(item)
                click(u.user_id, item, "click", ts + r + 1)
                profile = with_interaction(profile, item, world.index.vector(item), "click",
                                           ts + r + 1)
            rewards.append(len(hits))
    return SimulationResult(np.array(rewards), explored[0], explored[1], bandit.to_dict())


def _merged(world: World) -> list[tuple[int, str, Any]]:
    """Background events and arrivals in time order (an arrival after events of the same ms)."""
    background = ((e[0], "background", e) for e in world.background)
    arrivals = ((u.arrival_ts, "user", u) for u in world.users)
    return list(heapq.merge(background, arrivals, key=lambda e: (e[0], e[1] == "user")))


def movielens_world(item_vectors: np.ndarray, data: MovieLens | None = None,
                    n_users: int | None = None, background: bool = True) -> World:
    """The protocol's users (first 5 positives as onboarding, the next 20 as what they click),
    arriving at their 5th positive; with `background`, every other user's positives are organic
    clicks in the stream, else the system learns only from its own users."""
    data = data or load_movielens()
    users = data.users[: n_users or None]
    chosen = {u.user_id for u in users}
    stream = rating_stream()
    fifth: dict[int, int] = {}
    seen: dict[int, int] = defaultdict(int)
    for ts, user, _, _ in stream:
        seen[user] += 1
        if seen[user] == N_CLICKS:
            fifth[user] = ts * 1000
    sim = sorted((SimUser(str(u.user_id), fifth[u.user_id], tuple(map(str, u.clicks)),
                          frozenset(map(str, u.truth))) for u in users), key=lambda s: s.arrival_ts)
    others = [(ts * 1000, str(user), movie, action) for ts, user, movie, action in stream
              if user not in chosen] if background else []
    return World(sim, others, movie_index(data, item_vectors))


def plot_cumulative(runs: Mapping[str, Sequence[SimulationResult]], path: Path | str,
                    title: str = "") -> Path:
    """Mean cumulative reward per label over served lists (shaded: the seeds' min to max), and
    below it each label's mean cumulative reward minus the first label's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, diff) = plt.subplots(2, 1, figsize=(7, 6), sharex=True,
                                    gridspec_kw={"height_ratios": [2, 1]})
    curves = {label: np.stack([r.cumulative for r in results]) for label, results in runs.items()}
    first = next(iter(curves.values())).mean(0) if curves else np.zeros(0)
    for label, c in curves.items():
        x, mean = np.arange(1, c.shape[1] + 1), c.mean(0)
        line, = top.plot(x, mean, label=f"{label} (total {mean[-1]:.0f})")
        diff.plot(x, mean - first, color=line.get_color())
        if len(c) > 1:
            top.fill_between(x, c.min(0), c.max(0), alpha=0.2, color=line.get_color())
            diff.fill_between(x, c.min(0) - first, c.max(0) - first, alpha=0.2,
                              color=line.get_color())
    top.set_ylabel("cumulative clicks")
    top.set_title(title or "Simulated clicks: exploration on vs off", fontsize="medium")
    top.legend(fontsize="small")
    diff.set_ylabel(f"minus {next(iter(runs), '')}", fontsize="small")
    diff.set_xlabel("recommendation lists served")
    diff.axhline(0.0, color="grey", linewidth=0.8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run_movielens(out_dir: Path | str, rates: Sequence[float] = (0.0, 0.1, 0.2),
                  seeds: Sequence[int] = (0, 1), n_users: int | None = None,
                  strategies: Sequence[str] = ("blend",),
                  background: bool = True) -> dict[str, Path]:
    """Exploration off vs on in the MovieLens world: `simulation_movielens[_<variant>].json/.png`
    in out_dir. A run with no randomness (no exploration, one strategy) runs once."""
    import json

    from coldstart.encoder.encoder import load_encoder
    from coldstart.evaluation.vector_cache import item_vectors

    data = load_movielens()
    world = movielens_world(item_vectors(load_encoder(), data.catalogue), data, n_users, background)
    base = SimulationConfig(strategies=tuple(strategies), popularity_half_life_days=365.0,
                            cooccurrence=CooccurrenceConfig(half_life_days=730.0))
    runs = {(f"exploration {rate:.0%}" if rate else "exploration off"):
            [simulate(world, replace(base, explore_rate=rate, seed=s))
             for s in (seeds if rate or len(strategies) > 1 else seeds[:1])]
            for rate in rates}
    name = "simulation_movielens" + ("" if background else "_own_clicks_only") + \
        ("_bandit" if len(strategies) > 1 else "")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = {label: {"total_clicks": [int(r.rewards.sum()) for r in results],
                       "clicks_per_list": [r.rewards.tolist() for r in results],
                       "explored_shown": [r.explored_shown for r in results],
                       "explored_clicks": [r.explored_clicks for r in results],
                       "bandit": [r.bandit["betas"] for r in results]}
               for label, results in runs.items()}
    meta = {"users": len(world.users), "lists": len(world.users) * base.rounds, "k": base.k,
            "seeds": list(seeds), "strategies": list(strategies), "background": background}
    json_path = out / f"{name}.json"
    json_path.write_text(json.dumps({**meta, "runs": summary}, indent=2) + "\n")
    source = "other users' clicks in the stream" if background else "its own users' clicks only"
    png = plot_cumulative(runs, out / f"{name}.png",
                          f"MovieLens closed loop, {len(world.users)} users x {base.rounds} lists "
                          f"of {base.k}\nlearning from {source}; strategy: "
                          + ("Thompson sampling over " + ", ".join(strategies)
                             if len(strategies) > 1 else strategies[0]))
    return {"json": json_path, "png": png}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m coldstart.evaluation.simulation")
    parser.add_argument("--out", default="reports")
    parser.add_argument("--users", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--bandit", action="store_true", help="Thompson sampling over STRATEGIES")
    parser.add_argument("--own-clicks-only", action="store_true",
                        help="no background stream: the system learns from its own users only")
    args = parser.parse_args()
    for path in run_movielens(args.out, seeds=range(args.seeds), n_users=args.users,
                              strategies=tuple(STRATEGIES) if args.bandit else ("blend",),
                              background=not args.own_clicks_only).values():
        print(path)
