"""After user_deletions the profile is gone from the table's changelog and the id starts afresh."""
from __future__ import annotations

from typing import Any

import pytest
from e2e import RUNNING, Pipeline, categories, check_recommendation, click, deletion, items_of, majority, new_id, signup
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from coldstart.ranking.explain import EXPLORE, NEW, POPULAR, YOUR_INTERESTS
from coldstart.ranking.profile import Profile

pytestmark = pytest.mark.integration

NEW_WORDS = "two cats who scratch everything"
PERSONAL_REASONS = {YOUR_INTERESTS, POPULAR, NEW, EXPLORE}


def changelog_for(pipeline: Pipeline, user: str, until: Any, what: str,
                  table: str = "profiles") -> list[bytes | None]:
    """The user's records on a user table's changelog, oldest first, once `until(them)` holds."""
    reader = pipeline.reader(f"{pipeline.settings.topic_prefix}coldstart-{table}-changelog")
    key = user.encode()

    def mine(values: list[Any]) -> list[bytes | None]:
        return [r.value for r in reader.records if r.key == key]

    reader.wait(lambda _: until(mine(reader.values)), what)
    return mine(reader.values)


def test_a_deleted_user_leaves_a_tombstone_and_returns_as_new(pipeline: Pipeline) -> None:
    user = new_id("u")
    pipeline.recommend(signup(user, "growing tomatoes and herbs on my allotment"))
    running = items_of(pipeline, RUNNING)
    clicks = [click(user, running[0]), click(user, running[1]), click(user, running[2], "purchase")]
    pipeline.send("clicks", clicks)
    pipeline.recommendations([clicks[-1]["event_id"]])
    before = changelog_for(pipeline, user, lambda rs: bool(rs) and rs[-1] is not None,
                           "the user's profile")
    assert Profile.from_bytes(before[-1]).purchased == (running[2],)

    served = changelog_for(pipeline, user, lambda rs: bool(rs) and rs[-1] is not None,
                           "the user's served lists", table="served")
    assert served[-1] is not None

    pipeline.send("user_deletions", [deletion(user)])
    records = changelog_for(pipeline, user, lambda rs: rs[-1] is None, "a tombstone")
    assert records[-1] is None
    served = changelog_for(pipeline, user, lambda rs: rs[-1] is None, "a served tombstone",
                           table="served")
    assert served[-1] is None

    again = signup(user, NEW_WORDS)
    rec = pipeline.recommend(again)
    check_recommendation(pipeline, rec, again, "signup")
    reasons = {i["reason"] for i in rec["items"]}
    old = {r for r in reasons if r not in PERSONAL_REASONS and not r.startswith("matches your")}
    assert not old, f"traces of the old profile: {old}"
    assert not majority(pipeline, rec, RUNNING), categories(pipeline, rec)

    records = changelog_for(pipeline, user, lambda rs: rs[-1] is not None, "the new profile")
    fresh = Profile.from_bytes(records[-1])
    assert (fresh.n_interactions, fresh.purchased, fresh.recent) == (0, (), ())
    assert (fresh.n_texts, fresh.seen) == (1, (again["event_id"],))


def test_a_deletion_then_a_click_in_one_burst_starts_from_the_click(pipeline: Pipeline) -> None:
    """The two topics are read side by side: event time, not arrival, says the click came after."""
    users = [new_id("u") for _ in range(4)]  # several, as the arrival order varies from run to run
    words = "simple skincare for sensitive skin, nothing scented"
    signups = [signup(user, words) for user in users]
    pipeline.send("signups", signups)
    pipeline.recommendations([e["event_id"] for e in signups])
    item = items_of(pipeline, RUNNING)[4]
    burst, clicks = [], []
    for user in users:
        gone = deletion(user)
        after = dict(click(user, item), ts=gone["ts"] + 1)
        burst += [("user_deletions", gone, None), ("clicks", after, None)]
        clicks.append(after)
    pipeline.send_mixed(burst)
    found = pipeline.recommendations([e["event_id"] for e in clicks])
    for after in clicks:
        rec = found[after["event_id"]][0]
        check_recommendation(pipeline, rec, after, "click")
        assert not any("skin" in i["reason"] for i in rec["items"]), rec["items"]
        records = changelog_for(
            pipeline, after["user_id"], lambda rs: bool(rs) and rs[-1] is not None
            and Profile.from_bytes(rs[-1]).recent == (item,), "the new profile")
        fresh = Profile.from_bytes(records[-1])
        assert fresh.text_vec is None and fresh.n_texts == 0
        assert None in records, "the old profile was not tombstoned"


def test_the_profiles_changelog_is_compacted(pipeline: Pipeline) -> None:
    """Compaction is what removes a deleted user's older values from the changelog itself."""
    pipeline.reader(pipeline.changelog).wait(bool, "the changelog")
    admin = KafkaAdminClient(bootstrap_servers=pipeline.settings.bootstrap_servers)
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC,
                                                           pipeline.changelog)])
    finally:
        admin.close()
    config = described["topic"][pipeline.changelog]  # kafka-python 3: {type: {name: {key: {...}}}}
    assert config["cleanup.policy"]["value"] == "compact"
