"""`coldstart simulate` in small, on the real broker with real workers: the report's shape, and
that every click was on a shown item among the user's held-out positives."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from coldstart.config import Settings
from coldstart.evaluation.datasets import datasets_root, load_movielens
from streams.tools.simulate import Options, simulate, write_report
from streams.tools.simulation_world import movielens_users

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (datasets_root() / "movielens_small" / "ratings.csv").is_file(),
                       reason=f"MovieLens not found under {datasets_root()} "
                              "(set COLDSTART_DATASETS to the datasets folder)"),
]
USERS, ROUNDS = 4, 2


def test_a_short_simulation_clicks_only_shown_held_out_positives(broker: str, unique_prefix: str,
                                                                 tmp_path: Path) -> None:
    base = Settings(broker=f"kafka://{broker}", topic_prefix=unique_prefix, partitions=2)
    result = simulate(base, Options(users=USERS, rounds=ROUNDS, rates=(0.0, 0.1),
                                    catalog_size=300))

    assert (result["users"], result["rounds"], result["items"]) == (USERS, ROUNDS, 300)
    assert [r["label"] for r in result["runs"]] == ["exploration off", "exploration 10%"]
    users = {u.user_id: u for u in movielens_users(load_movielens(), USERS)}
    for run in result["runs"]:
        assert len(run["clicks_per_round"]) == ROUNDS
        assert run["total_clicks"] == sum(run["clicks_per_round"]) == len(run["clicks"])
        assert run["cumulative"][-1] == run["total_clicks"]
        for c in run["clicks"]:
            user = users[c["user_id"]]
            assert c["item_id"] in c["shown"], c
            assert c["item_id"] in user.wants and c["item_id"] not in user.onboarding, c
        assert max(Counter((c["user_id"], c["item_id"]) for c in run["clicks"]).values(),
                   default=1) == 1  # a wanted item is clicked at most once
    assert result["runs"][0]["explored_shown"] == 0  # off means off

    json_path, png = write_report(result, tmp_path)
    assert json.loads(json_path.read_text()) == result
    assert png.stat().st_size > 0
