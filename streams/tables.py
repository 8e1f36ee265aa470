"""Per-user state: one RocksDB-backed table, co-partitioned with the user topics by user_id."""
from __future__ import annotations

from coldstart.profile import Profile
from streams.app import app, settings

# Changelog compaction runs soon after a purge, so a deleted user's old values do not linger.
CHANGELOG_CONFIG = {
    "cleanup.policy": "compact",
    "segment.ms": "60000",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "86400000",
}

profiles = app.Table(
    "profiles",
    key_type=bytes,
    value_type=bytes,  # coldstart.profile.Profile.to_bytes()
    partitions=settings.partitions,
    extra_topic_configs=CHANGELOG_CONFIG,
    help="user_id -> profile bytes (text and behaviour vectors, purchases, recent items)",
)


def load_profile(user_id: str) -> Profile | None:
    raw = profiles.get(user_id.encode())
    return Profile.from_bytes(raw) if raw else None
