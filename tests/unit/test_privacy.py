"""Keyed hashes, deletion barriers and training data without deleted users (coldstart/privacy.py)."""
from __future__ import annotations

from coldstart.privacy import Barrier, keyed_hash, without_deleted


def test_the_keyed_hash_depends_on_the_key_and_does_not_show_the_id() -> None:
    assert keyed_hash("u-1", "k1") == keyed_hash(b"u-1", "k1")
    assert keyed_hash("u-1", "k1") != keyed_hash("u-1", "k2") != keyed_hash("u-2", "k2")
    assert "u-1" not in keyed_hash("u-1", "k1") and len(keyed_hash("u-1", "k1")) == 32


def test_a_barrier_round_trips_expires_and_extends_to_the_later_deletion() -> None:
    barrier = Barrier(ts=100, until=1_000, partition=3)
    assert Barrier.from_bytes(barrier.to_bytes()) == barrier
    assert not barrier.expired(1_000) and barrier.expired(1_001)
    assert barrier.extended(50, 2_000) == Barrier(100, 2_000, 3)
    assert barrier.extended(200, 900) == Barrier(200, 1_000, 3)


def test_training_leaves_out_a_deleted_users_events_up_to_the_deletion() -> None:
    logged = {"catalog": [{"item_id": "a", "ts": 1}],
              "signups": [{"user_id": "u1", "description": "x", "ts": 10},
                          {"user_id": "u2", "description": "y", "ts": 11},
                          {"user_id": "u1", "description": "again", "ts": 30}],
              "clicks": [{"user_id": "u1", "item_id": "a", "ts": 20}]}
    data = without_deleted(logged, [{"user_id": "u1", "ts": 25}, {"user_id": "u1", "ts": 5}])
    assert [e["ts"] for e in data.events["signups"]] == [11, 30]  # back after it: a new user
    assert data.events["clicks"] == [] and data.events["catalog"] == logged["catalog"]
    assert (data.left_out, data.deleted_users) == (2, 1)
    assert data.window == {"first_ts": 11, "last_ts": 30}
    note = data.manifest_note()
    assert note["topic_events"] == {"catalog": 1, "signups": 2, "clicks": 0}
    assert "u1" not in repr(note)
