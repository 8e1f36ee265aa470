"""What a deletion means for what the product keeps: keyed hashes, deletion barriers, training data.

A user id is personal data; where something must be remembered about a user after their
deletion (the barrier that keeps their late events out), it is keyed by an HMAC of the id under
a secret (COLDSTART_HASH_KEY), so the record does not name them. A barrier holds the time of the
deletion and until when it is kept; any of the user's events dated at or before that time is
dropped while it is kept (coldstart/engine.py).
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

USER_TOPICS = ("signups", "searches", "clicks")  # events of a user that training reads


def keyed_hash(value: str | bytes, key: str) -> str:
    """HMAC-SHA256 of `value` under `key`, hex (32 characters: 128 bits are plenty for a key)."""
    raw = value.encode() if isinstance(value, str) else value
    return hmac.new(key.encode(), raw, hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class Barrier:
    """A remembered deletion: events dated at or before `ts` are dropped until `until` (wall
    clock, ms). `partition` is the partition of the user's events, for expiring it there."""

    ts: int
    until: int
    partition: int

    def to_bytes(self) -> bytes:
        return json.dumps({"ts": self.ts, "until": self.until, "p": self.partition},
                          separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Barrier:
        data = json.loads(raw)
        return cls(int(data["ts"]), int(data["until"]), int(data["p"]))

    def expired(self, now: int) -> bool:
        return now > self.until

    def extended(self, ts: int, until: int) -> Barrier:
        """This barrier after another deletion of the same user (the later time wins)."""
        return Barrier(max(self.ts, ts), max(self.until, until), self.partition)


@dataclass(frozen=True)
class TrainingData:
    """Logged events with deleted users' events left out, and the window they span."""

    events: dict[str, list[dict[str, Any]]]
    left_out: int  # events dropped because their user was deleted after them
    deleted_users: int  # users with at least one deletion
    window: dict[str, int | None]  # first_ts, last_ts of the user events kept

    def manifest_note(self) -> dict[str, Any]:
        """What the model manifest records about the data (counts, window; no ids)."""
        return {"topic_events": {t: len(e) for t, e in self.events.items()},
                "window": self.window, "deleted_users": self.deleted_users,
                "events_of_deleted_users_left_out": self.left_out}


def without_deleted(logged: Mapping[str, Sequence[Mapping[str, Any]]],
                    deletions: Iterable[Mapping[str, Any]]) -> TrainingData:
    """`logged` (topic -> events) without the user events dated at or before their user's latest
    deletion: a deleted user is not trained on; one who signs up again afterwards is a new user."""
    deleted: dict[str, int] = {}
    for event in deletions:
        user, ts = str(event["user_id"]), int(event["ts"])
        deleted[user] = max(deleted.get(user, ts), ts)
    kept: dict[str, list[dict[str, Any]]] = {}
    left_out, times = 0, []
    for topic, events in logged.items():
        if topic not in USER_TOPICS:
            kept[topic] = [dict(e) for e in events]
            continue
        kept[topic] = []
        for event in events:
            if int(event["ts"]) <= deleted.get(str(event["user_id"]), -1):
                left_out += 1
                continue
            kept[topic].append(dict(event))
            times.append(int(event["ts"]))
    window = {"first_ts": min(times) if times else None, "last_ts": max(times) if times else None}
    return TrainingData(kept, left_out, len(deleted), window)
