"""The closed loop: clicks only on wanted items, seeded runs repeat, exploration finds a gem."""
from __future__ import annotations

import math

import numpy as np

from coldstart.evaluation.simulation import (
    SimulationConfig,
    SimulationResult,
    SimUser,
    World,
    plot_cumulative,
    simulate,
)
from coldstart.index import IndexConfig, make_index
from coldstart.ranking.blend import BlendConfig
from coldstart.ranking.cooccurrence import CooccurrenceConfig

T0 = 1_700_000_000_000
DIM = 4


def gem_world(n_users: int = 30) -> World:
    """Ten popular decoys near what users onboard with; everyone wants only the gem, which no
    one has clicked yet and whose text is unlike anything they clicked."""
    index = make_index(DIM, IndexConfig(kind="flat"))
    decoys = [f"decoy-{i}" for i in range(10)]
    near = np.array([1.0, 0.3, 0.0, 0.0]) / math.hypot(1.0, 0.3)
    index.upsert(["onboard"] + decoys + ["gem"],
                 np.stack([np.eye(DIM)[0]] + [near] * 10 + [np.eye(DIM)[3]]).astype(np.float32))
    background = [(T0 + i, f"bg-{i}", decoys[i % 10], "click") for i in range(100)]
    users = [SimUser(f"u{i}", T0 + 1_000 + 1_000 * i, ("onboard",), frozenset({"gem"}))
             for i in range(n_users)]
    return World(users, background, index)


def config(rate: float, seed: int = 0) -> SimulationConfig:
    return SimulationConfig(explore_rate=rate, rounds=1, k=3, seed=seed, strategies=("blend",),
                            popularity_half_life_days=math.inf,
                            cooccurrence=CooccurrenceConfig(half_life_days=math.inf),
                            blend=BlendConfig(explore_max_shown=3))


def test_without_exploration_the_gem_is_never_found() -> None:
    result = simulate(gem_world(), config(0.0))
    assert result.rewards.tolist() == [0] * 30 and result.explored_shown == 0


def test_exploration_finds_the_gem_and_its_clicks_keep_it_coming() -> None:
    result = simulate(gem_world(), config(1 / 3))
    assert result.explored_shown <= 30  # one slot of three per list, at most
    assert result.explored_clicks >= 1
    found = int(np.argmax(result.rewards > 0))
    assert result.rewards[:found].sum() == 0 and result.rewards[found:].mean() >= 0.5


def test_a_seeded_run_repeats_and_rewards_are_clicks_on_wanted_items() -> None:
    world = gem_world(12)
    a, b = simulate(world, config(1 / 3, seed=3)), simulate(world, config(1 / 3, seed=3))
    assert a.rewards.tolist() == b.rewards.tolist() and a.bandit == b.bandit
    assert set(a.rewards.tolist()) <= {0, 1}  # each user wants one item


def test_the_bandit_is_rewarded_through_attribution() -> None:
    world = gem_world(20)
    result = simulate(world, SimulationConfig(explore_rate=1 / 3, rounds=2, k=3,
                                              blend=BlendConfig(explore_max_shown=3)))
    betas = result.bandit["betas"]
    assert sum(v[0] for v in betas.values()) == 40  # every list counted as shown by its arm
    assert sum(v[1] for v in betas.values()) == int((result.rewards > 0).sum())


def test_the_chart_is_a_png(tmp_path) -> None:  # type: ignore[no-untyped-def]
    runs = {"on": [SimulationResult(np.array([0, 1, 1]), 1, 1, {})],
            "off": [SimulationResult(np.array([0, 0, 1]), 0, 0, {}),
                    SimulationResult(np.array([0, 1, 0]), 0, 0, {})]}
    path = plot_cumulative(runs, tmp_path / "sim.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
