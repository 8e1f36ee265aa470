"""The contract's topics, named once: every other module takes its topic names from here.

Names are unprefixed; `Settings.topic(name)` adds COLDSTART_TOPIC_PREFIX. Internal topics are the
product's own (docs/contract.md, Extensions): only workers and the product's tools use them.
"""
from __future__ import annotations

INPUTS: tuple[str, ...] = ("catalog", "ads", "signups", "searches", "clicks", "page_views",
                           "user_deletions")
OUTPUTS: tuple[str, ...] = ("recommendations", "ad_slots", "dead_letters")
CONTRACT: tuple[str, ...] = INPUTS + OUTPUTS
# What the users agent consumes side by side (one writer of the per-user tables).
USER_TOPICS: tuple[str, ...] = ("signups", "searches", "clicks", "user_deletions")
CATALOGUE_TOPICS: tuple[str, ...] = ("catalog", "ads")  # every worker reads them in full

# Internal: the page views' ad_slots events, forwarded to the users agent (keyed by user_id).
AD_PLACEMENTS = "coldstart-ad-placements"
# Internal: which model version every worker serves (one partition; schema `model_updates`).
MODEL_UPDATES = "coldstart-model-updates"
MODEL_UPDATES_SCHEMA = "model_updates"
# Internal, created by Faust: the shared models' increments, keyed like the tables they feed.
COOCCURRENCE_UPDATES = "coldstart-cooccurrence-updates"
FEEDBACK = "coldstart-feedback"

# The id each topic's record key must equal (UTF-8); `ad_slots` is the schema of AD_PLACEMENTS.
KEY_FIELDS: dict[str, str] = {
    "catalog": "item_id", "ads": "ad_id", "signups": "user_id", "searches": "user_id",
    "clicks": "user_id", "page_views": "user_id", "user_deletions": "user_id",
    "recommendations": "user_id", "ad_slots": "user_id",
}
# Topics (and the schemas of topics) whose records are about one user: their dead letters keep
# no values, their errors echo no free text, and their `ts` must lie in the accepted window.
PRIVATE_TOPICS: tuple[str, ...] = ("signups", "searches", "clicks", "page_views", "user_deletions",
                                   "ad_slots", AD_PLACEMENTS)
POPULARITY = "coldstart-popularity"
