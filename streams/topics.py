"""The contract's topics as Faust channels: inputs raw (validated at the edge), outputs JSON.

Topic names come from schemas/topics.py; this module only says how the worker reads or writes each.
"""
from __future__ import annotations

from typing import Any

from schemas.topics import AD_PLACEMENTS, COOCCURRENCE_UPDATES, FEEDBACK, POPULARITY, USER_TOPICS
from streams.app import app, settings


def _raw(*names: str) -> Any:
    return app.topic(*(settings.topic(n) for n in names), key_type=bytes, value_type=bytes,
                     key_serializer="raw", value_serializer="raw")


def _json(name: str) -> Any:
    return app.topic(settings.topic(name), key_serializer="raw", value_serializer="json")


def _internal(name: str) -> Any:
    """A topic only the workers use; Faust creates it, partitioned like the tables it feeds."""
    return app.topic(settings.topic(name), key_type=bytes, key_serializer="raw",
                     value_serializer="json", partitions=settings.partitions, internal=True)


# One agent writes profiles and served logs, so the topics share one stream; the page views' ads
# come back on AD_PLACEMENTS (keyed by user_id, co-partitioned) to be remembered for attribution.
user_events = _raw(*USER_TOPICS, AD_PLACEMENTS)
page_views = _raw("page_views")
recommendations = _json("recommendations")
ad_slots = _json("ad_slots")
dead_letters = _json("dead_letters")
ad_placements = _json(AD_PLACEMENTS)  # created by `coldstart worker` (streams/admin.py)
cooccurrence_updates = _internal(COOCCURRENCE_UPDATES)  # key item_id: one row's change
feedback_counts = _internal(FEEDBACK)  # key "arm:<name>" / "item:<id>": shown, clicked
popularity_counts = _internal(POPULARITY)  # key item_id: log key to add, latest ts


def contract_name(topic: str) -> str:
    """`signups` for `<prefix>signups`."""
    return topic[len(settings.topic_prefix):] if topic.startswith(settings.topic_prefix) else topic


def event_kind(topic: str) -> str:
    """The contract topic whose events a topic carries: AD_PLACEMENTS carries `ad_slots`."""
    name = contract_name(topic)
    return "ad_slots" if name == AD_PLACEMENTS else name
