"""Tables: per-user state co-partitioned by user_id; shared models keyed by item or arm.

`profiles`, `served` and `deletions` (the deletion barriers, keyed by a keyed hash of the user
id) are written by the users agent only, and kept in a store that keeps no local copy of a
partition it no longer serves (streams/faust_compat.py: ForgetfulStore); `cooccurrence`,
`popularity` and `feedback` by their own agents, and every worker follows their changelogs in
full (streams/replica.py) so any worker can read any row.
"""
from __future__ import annotations

import json
from typing import Any

from coldstart.attribution import ServedLog
from coldstart.ranking.profile import Profile
from streams.admin import CHANGELOG_CONFIG
from streams.app import app, settings
from streams.faust_compat import ForgetfulStore, forgetful_store, rocks_store

# A local copy older than this may have missed tombstones the changelog no longer holds.
ForgetfulStore.max_idle_s = int(CHANGELOG_CONFIG["delete.retention.ms"]) / 1000 / 2


def _table(name: str, help: str, per_user: bool = False) -> Any:
    return app.Table(name, key_type=bytes, value_type=bytes, partitions=settings.partitions,
                     extra_topic_configs=CHANGELOG_CONFIG, help=help,
                     store=forgetful_store(name) if per_user else rocks_store(name))


profiles = _table("profiles", "user_id -> profile bytes (text and behaviour vectors, purchases, "
                              "recent items)", per_user=True)
served = _table("served", "user_id -> ServedLog JSON: the user's latest lists, for attribution",
                per_user=True)
deletions = _table("deletions", "keyed hash of user_id -> deletion barrier JSON (ts, until, "
                                "partition)", per_user=True)
cooccurrence = _table("cooccurrence", "item_id -> co-occurrence row bytes (Neighbours)")
feedback = _table("feedback", "arm:<name> / item:<id> / ad:<id> -> {shown, clicked} JSON")
popularity = _table("popularity", "item_id -> {key, ts} JSON: decayed popularity's log key "
                                  "(coldstart/ranking/popularity.py) and the latest event time")


def load_profile(user_id: str) -> Profile | None:
    raw = profiles.get(user_id.encode())
    return Profile.from_bytes(raw) if raw else None


def load_served(user_id: str) -> ServedLog | None:
    raw = served.get(user_id.encode())
    return ServedLog.from_dict(json.loads(raw)) if raw else None


def served_bytes(log: ServedLog) -> bytes:
    return json.dumps(log.to_dict(), separators=(",", ":")).encode()
