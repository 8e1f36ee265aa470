"""One batch of user events in, new profiles and output events out: the product's loop.

The streaming layer reads the profiles (and served logs) a batch touches, calls
`Engine.handle_users`, writes them back and sends the events. Everything here is plain values,
so it is tested without a broker. Redelivered events (same event_id) change no profile twice but
still get their output: at-least-once allows a repeat, never a loss.

Recommendations are blended (coldstart.ranking.blend): content, co-occurrence and popularity, with the
weights of a strategy a Thompson bandit picks per list. A list a signup or search triggers
takes its content order from the text retrieval (coldstart.text.retrieval: two BM25s and
dense fused, the top re-ranked when the model version has a re-ranker). The rng is seeded from the
recommendation_id, so a repeat of a list ranks like the first. What the engine learns from is
returned, not applied: co-occurrence row updates and popularity increments (for new clicks only)
and feedback counts ("arm:", "item:", "ad:" keys: shown, clicked); the streaming layer routes them
to their tables and every worker loads the tables back with `load_cooccurrence`,
`load_popularity` and `load_feedback`, so every worker ranks with the same learned state. The page views'
`ad_slots` events come back among the user events, so the ads a user was shown sit in their served
log and a later click on what an ad promoted credits the ad (coldstart/ads/feedback.py).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from coldstart.ads.feedback import impressions, placed_ads
from coldstart.ads.placement import place_ads_by_ctr
from coldstart.attribution import Served, ServedLog
from coldstart.catalog import Catalog
from coldstart.errors import ColdstartError
from coldstart.events import ad_slots_event, recommendation_event, stable_id
from coldstart.ranking.bandit import Estimates, ThompsonBandit
from coldstart.ranking.blend import BlendConfig, BlendWeights, ListRequest, recommend_blended_many
from coldstart.ranking.cooccurrence import Cooccurrence, RowUpdate, row_updates
from coldstart.ranking.explain import CONTENT, EXPLORE_KIND, Explainer, Recommendation
from coldstart.ranking.popularity import Popularity, merge_keys
from coldstart.ranking.profile import (
    Profile,
    has_seen,
    query_vector,
    with_interaction,
    with_search,
    with_seen,
    with_signup,
)
from coldstart.text.retrieval import RetrievalConfig, TextRetriever

Encode = Callable[[Sequence[str]], np.ndarray]
TEXT_FIELD = {"signups": "description", "searches": "query"}
# The bandit's arms. blend.STRATEGIES is tuned on MovieLens, where titles say little; a shop's
# item text says a lot, so the live arms keep content strong and vary co-occurrence vs popularity.
LIVE_STRATEGIES = {
    "content": BlendWeights(1.0, 0.5, 0.2),
    "collaborative": BlendWeights(0.7, 1.0, 0.3),
}
LIVE_BLEND = BlendConfig(explore_rate=0.1)


@dataclass
class UserBatchResult:
    """What a batch changed: state to write, users to purge, events to send, events refused,
    and what the shared models learn (co-occurrence row updates, popularity increments,
    feedback counts)."""

    profiles: dict[str, Profile] = field(default_factory=dict)  # changed: write (after purging)
    served: dict[str, ServedLog] = field(default_factory=dict)  # likewise, per user
    deleted: set[str] = field(default_factory=set)  # purge these (profile and served) first
    barriers: dict[str, int] = field(default_factory=dict)  # deleted user -> deletion ts: remember
    barred: dict[str, int] = field(default_factory=dict)  # topic -> events dropped by a barrier
    recommendations: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (position in batch, error)
    cooccurrence: list[RowUpdate] = field(default_factory=list)  # route by item_id
    feedback: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (shown, clicked)
    deferred: dict[str, ClickRefresh] = field(default_factory=dict)  # lists owed (defer_refresh)
    # item_id -> (log key to add, latest event ts): see coldstart.ranking.popularity
    popularity: dict[str, tuple[float, int]] = field(default_factory=dict)

    def count(self, key: str, shown: int = 0, clicked: int = 0) -> None:
        s, c = self.feedback.get(key, (0, 0))
        self.feedback[key] = (s + shown, c + clicked)

    def count_popular(self, item_id: str, key: float, ts: int) -> None:
        old = self.popularity.get(item_id)
        self.popularity[item_id] = ((key, ts) if old is None else
                                    (merge_keys(old[0], key), max(old[1], ts)))


@dataclass(frozen=True)
class ClickRefresh:
    """A user's list owed for their latest click: its event id (the list's trigger) and time."""

    trigger_event_id: str
    source_ts: int
    repeat: bool = False  # every click behind it was applied before: the list counts nothing


@dataclass
class _List:
    """A list to send, ranked with the batch's others: for whom, why, and with which arm."""

    user: str
    trigger: str
    trigger_event_id: str
    source_ts: int
    rec_id: str
    arm: str
    repeat: bool  # a list already served (a redelivered trigger): not counted as shown again
    generation: int  # the user's deletions before it: a list for a since-deleted user is not kept
    request: ListRequest


@dataclass
class _Batch:
    """The working state of one handle_users call."""

    profiles: dict[str, Profile | None]
    served: dict[str, ServedLog | None]
    barriers: dict[str, int]
    result: UserBatchResult = field(default_factory=UserBatchResult)
    refresh: dict[str, ClickRefresh] = field(default_factory=dict)
    lists: list[_List] = field(default_factory=list)
    arms: dict[str, str] = field(default_factory=dict)  # rec_id -> arm, of this batch's lists
    deletions: dict[str, int] = field(default_factory=dict)  # user -> deletions in this batch


class Engine:
    """Holds the worker's catalogue, popularity, co-occurrence and feedback estimates."""

    # Test only (COLDSTART_TEST_FAIL_EVENT_IDS): a batch holding one of these event ids raises,
    # to prove that the streaming layer loses nothing when the engine fails mid-batch.
    fail_on: frozenset[str] = frozenset()

    def __init__(self, catalog: Catalog, encode_users: Encode, model_version: str,
                 popularity: Popularity | None = None, top_k: int = 10,
                 cooccurrence: Cooccurrence | None = None,
                 strategies: Mapping[str, BlendWeights] = LIVE_STRATEGIES,
                 blend: BlendConfig = LIVE_BLEND, reranker: Any = None,
                 retrieval: RetrievalConfig = RetrievalConfig()) -> None:
        self.catalog = catalog
        self.encode_users = encode_users
        self.model_version = model_version
        self.popularity = popularity if popularity is not None else Popularity()  # empty is falsy
        self.top_k = top_k
        self.cooc = cooccurrence if cooccurrence is not None else Cooccurrence()
        self.strategies = dict(strategies)
        self.blend = blend
        self.reranker = reranker  # the model version's coldstart.encoder.reranker.CrossEncoder, if any
        self.retrieval = retrieval
        self.bandit = ThompsonBandit(list(self.strategies))  # arm -> list click rate
        self.items_shown = Estimates()  # item -> impressions and clicks, for exploration
        self.ad_ctr = Estimates()  # ad -> impressions and clicks

    def with_model(self, catalog: Catalog, encode_users: Encode, model_version: str,
                   reranker: Any = None) -> Engine:
        """An engine for a new encoder: its catalogue and encoder, this engine's learned state.

        Popularity, co-occurrence and the feedback estimates are keyed by item, arm and ad ids,
        not vectors, so they hold under any model; they are shared, not copied, so what the old
        engine learns until the swap is not lost.
        """
        engine = Engine(catalog, encode_users, model_version, popularity=self.popularity,
                        top_k=self.top_k, cooccurrence=self.cooc, strategies=self.strategies,
                        blend=self.blend, reranker=reranker, retrieval=self.retrieval)
        engine.bandit, engine.items_shown, engine.ad_ctr = self.bandit, self.items_shown, self.ad_ctr
        engine.fail_on = self.fail_on
        return engine

    # --- the shared models, loaded from their tables -------------------------------------------
    def load_cooccurrence(self, item_id: str, row: bytes | None, ts: int) -> None:
        """One co-occurrence table record (None: a tombstone); `ts` its time, ms."""
        if row is None:
            self.cooc.remove([item_id])
        else:
            self.cooc.load_row(item_id, row)
        self.cooc.now = max(self.cooc.now, ts)

    def forget_items(self, item_ids: Sequence[str]) -> list[str]:
        """Deleted items: drop their popularity, co-occurrence rows and feedback estimates here;
        return the ids that had a row or an estimate (whose table rows want tombstones)."""
        held = [i for i in item_ids
                if i in self.cooc or i in self.items_shown.betas or i in self.popularity]
        self.popularity.remove(item_ids)
        self.cooc.remove(item_ids)
        for item_id in item_ids:
            self.items_shown.betas.pop(item_id, None)
        return held
    def load_popularity(self, item_id: str, key: float | None, ts: int) -> None:
        """One popularity table record: the item's log key (None: a tombstone), its latest ts."""
        if key is None:
            self.popularity.remove([item_id])
        else:
            self.popularity.load(item_id, key, ts)

    def load_feedback(self, key: str, shown: float, clicked: float) -> None:
        """One feedback table record: totals for "arm:<name>", "item:<id>" or "ad:<id>"."""
        kind, _, name = key.partition(":")
        target = {"arm": self.bandit, "item": self.items_shown, "ad": self.ad_ctr}.get(kind)
        if target is not None and name:
            target.betas[name] = replace(target.prior, shown=shown, clicked=clicked)

    # --- user events ---------------------------------------------------------------------------
    def handle_users(self, events: Sequence[tuple[str, Mapping[str, Any]]],
                     profiles: Mapping[str, Profile | None],
                     served: Mapping[str, ServedLog | None] | None = None,
                     barriers: Mapping[str, int] | None = None, *,
                     refresh: Mapping[str, ClickRefresh] | None = None,
                     defer_refresh: bool = False) -> UserBatchResult:
        """Apply validated (topic, event) pairs in `ts` order; one encoder call for the whole batch.

        Topics: signups, searches, clicks, user_deletions, and ad_slots (the ads placed on the
        user's page views, remembered for attributing their clicks).

        The topics are consumed side by side, so a batch may hold a user's click before the
        deletion that preceded it; event time, not arrival, decides (ties keep arrival order).
        `barriers` (user -> the time of their latest remembered deletion) is the deletion
        barrier: an event of that user dated at or before it is dropped, with no output, and
        counted in `barred`, so a late or replayed event cannot bring a deleted user back.

        Each user who clicked gets one list for their latest click. With `defer_refresh` (a
        worker that has fallen behind) those lists are owed instead: returned in
        `result.deferred`, to be passed back as `refresh` with a later batch, which lists them
        (with `profiles` and `served` holding those users too) unless that batch has a newer
        click or a deletion of theirs. Every click still changes the state at once.
        """
        if self.fail_on and any(e.get("event_id") in self.fail_on for _, e in events):
            raise ColdstartError("injected fault (COLDSTART_TEST_FAIL_EVENT_IDS)")
        b = _Batch(dict(profiles), dict(served or {}), dict(barriers or {}))
        barred = {i for i, (t, e) in enumerate(events)  # not even embedded
                  if t != "user_deletions" and _event_ts(e) <= b.barriers.get(e["user_id"], -1)}
        vectors = self._embed_texts(events, barred)
        text_ranked = self._text_ranked(events, vectors)
        b.refresh.update(refresh or {})
        for position in sorted(range(len(events)), key=lambda i: _event_ts(events[i][1])):
            topic, event = events[position]
            user = event["user_id"]
            if topic != "user_deletions" and _event_ts(event) <= b.barriers.get(user, -1):
                b.result.barred[topic] = b.result.barred.get(topic, 0) + 1
            elif topic == "ad_slots":
                log = b.served.get(user) or ServedLog()
                if event["placement_id"] not in dict(log.ads):  # a redelivery counts them once
                    for key, (shown, _) in impressions([event]).items():
                        b.result.count(key, shown=shown)
                b.served[user] = log.placed(event["placement_id"], placed_ads(event))
            elif topic == "user_deletions":
                b.profiles[user] = b.served[user] = None
                b.result.deleted.add(user)
                b.refresh.pop(user, None)
                b.barriers[user] = max(b.barriers.get(user, event["ts"]), event["ts"])
                b.result.barriers[user] = b.barriers[user]
                b.deletions[user] = b.deletions.get(user, 0) + 1
            elif topic == "clicks":
                error = self._click(b, event)
                if error:
                    b.result.rejected.append((position, error))
            else:
                repeat = has_seen(b.profiles.get(user), event["event_id"])
                self._text_event(topic, event, vectors[position], b.profiles)
                trigger = "signup" if topic == "signups" else "search"
                self._recommendation(b, user, trigger, event["event_id"], event["ts"],
                                     text_ranked[position], self._intent(topic, event),
                                     repeat=repeat)
        passed = refresh or {}
        owed = {u: r for u, r in b.refresh.items() if defer_refresh and r != passed.get(u)}
        b.result.deferred = owed
        for user, r in b.refresh.items():
            if user not in owed:
                self._recommendation(b, user, "click", r.trigger_event_id, r.source_ts,
                                     repeat=r.repeat)
        self._send_lists(b)
        # A user deleted and then seen again in one batch is purged first, then written anew.
        # Only what changed is written: a page view's placement or a repeat leaves the profile.
        b.result.profiles = {u: p for u, p in b.profiles.items()
                             if p is not None and p is not profiles.get(u)}
        given = served or {}
        b.result.served = {u: s for u, s in b.served.items()
                           if s is not None and s is not given.get(u)}
        return b.result

    def _embed_texts(self, events: Sequence[tuple[str, Mapping[str, Any]]],
                     skip: set[int]) -> dict[int, np.ndarray]:
        wanted = [(i, str(e[TEXT_FIELD[t]])) for i, (t, e) in enumerate(events)
                  if t in TEXT_FIELD and i not in skip]
        if not wanted:
            return {}
        vectors = self.encode_users([text for _, text in wanted])
        return {i: vectors[row] for row, (i, _) in enumerate(wanted)}

    def _text_event(self, topic: str, event: Mapping[str, Any], vec: np.ndarray,
                    state: dict[str, Profile | None]) -> None:
        user, profile = event["user_id"], state.get(event["user_id"])
        if has_seen(profile, event["event_id"]):
            return
        update = with_signup if topic == "signups" else with_search
        state[user] = with_seen(update(profile, vec, event["ts"]), event["event_id"])

    def _click(self, b: _Batch, event: Mapping[str, Any]) -> str | None:
        item_id, user, action, ts = event["item_id"], event["user_id"], event["action"], event["ts"]
        if item_id not in self.catalog:
            return f"clicks: item_id {item_id[:60]!r} is not in the catalogue (unknown or deleted)"
        profile = b.profiles.get(user)
        new = not has_seen(profile, event["event_id"])
        if new:
            b.result.cooccurrence += row_updates(profile.recent if profile else (), item_id,
                                                 action, ts, self.cooc.config)
            profile = with_interaction(profile, item_id, self.catalog.item_vector(item_id),
                                       action, ts, self.catalog.titles.get(item_id, ""))
            b.profiles[user] = with_seen(profile, event["event_id"])
            b.result.count_popular(item_id, self.popularity.event_key(action, ts), ts)
            self._attribute(b, user, event.get("recommendation_id"), item_id)
            self._attribute_ad(b, user, event.get("recommendation_id"), item_id)
        before = b.refresh.get(user)
        # A redelivered click may be batched differently and trigger a list the first delivery
        # coalesced away: that list is sent, but counts as shown only if a new click is behind it.
        b.refresh[user] = ClickRefresh(event["event_id"], ts,
                                       repeat=not new and (before is None or before.repeat))
        return None

    def _attribute(self, b: _Batch, user: str, recommendation_id: str | None, item_id: str) -> None:
        """A click on an item of a list we served: the list's arm and the item earn a click."""
        log = b.served.get(user)
        if log is None or not recommendation_id:
            return
        log, served, first = log.attribute(recommendation_id, item_id)
        if served is not None and first:
            b.served[user] = log
            b.result.count(f"arm:{served.arm}", clicked=1)
            b.result.count(f"item:{item_id}", clicked=1)

    def _attribute_ad(self, b: _Batch, user: str, recommendation_id: str | None,
                      item_id: str) -> None:
        """A click that a recent ad placement explains: that ad earns a click."""
        log = b.served.get(user)
        if log is None:
            return
        log, ad = log.attribute_ad(recommendation_id, item_id)
        if ad is not None:
            b.served[user] = log
            b.result.count(f"ad:{ad}", clicked=1)

    def _text_ranked(self, events: Sequence[tuple[str, Mapping[str, Any]]],
                     vectors: Mapping[int, np.ndarray]) -> dict[int, list[str]]:
        """For each text event (by position), the catalogue ranked for its text alone: BM25
        (words, trigrams) and dense fused, the tops re-ranked in one call for the whole batch."""
        if not vectors:
            return {}
        positions = sorted(vectors)
        retriever = TextRetriever(self.catalog.index, self.catalog.lexical, self.catalog.texts,
                                  self.reranker, self.retrieval)
        texts = [str(events[i][1][TEXT_FIELD[events[i][0]]]) for i in positions]
        ranked = retriever.search_many(texts, np.stack([vectors[i] for i in positions]),
                                       self.retrieval.depth)
        return dict(zip(positions, ranked))

    def _intent(self, topic: str, event: Mapping[str, Any]) -> bool:
        """Whether the text says what the user wants: a search always; a signup when its words
        name something in the catalogue (the word index finds an item). Then matches come first."""
        if topic == "searches":
            return True
        words = self.catalog.lexical[0] if self.catalog.lexical else None
        return words is not None and bool(words.search(str(event[TEXT_FIELD[topic]]), 1)[0])

    def _recommendation(self, b: _Batch, user: str, trigger: str, trigger_event_id: str,
                        source_ts: int, text_ranked: Sequence[str] = (), intent: bool = False,
                        repeat: bool = False) -> None:
        """Queue a list for `user` as their profile stands now; `_send_lists` ranks the batch's.
        `intent`: the text says what the user wants (`_intent`), so its matches come first.
        `repeat`: every event behind it was applied before, so the list counts as shown only if
        it was never served."""
        rec_id = stable_id("rec", trigger, trigger_event_id, user)
        log = b.served.get(user) or ServedLog()
        before = b.arms.get(rec_id)
        if before is None and (served := dict(log.lists).get(rec_id)) is not None:
            before = served.arm
        seed = int(rec_id, 16)
        # the arm's draw and the list's draws from streams of their own, so a repeat (whose arm
        # comes from the log) gets the same list, explored slots included
        arm = before if before is not None else self.bandit.choose(np.random.default_rng([seed, 1]))
        rng = np.random.default_rng(seed)
        b.arms[rec_id] = arm
        seen = {item for listed, earlier in log.lists if listed != rec_id for item in earlier.items}
        request = ListRequest(b.profiles.get(user), self.strategies.get(arm), rng, text_ranked,
                              intent=intent, seen=seen)
        b.lists.append(_List(user, trigger, trigger_event_id, source_ts, rec_id, arm,
                             before is not None or repeat, b.deletions.get(user, 0), request))

    def _send_lists(self, b: _Batch) -> None:
        """Rank the batch's lists together, then serve them in the order they were asked for."""
        ranked = recommend_blended_many([q.request for q in b.lists], self.catalog.index,
                                        self.cooc, self.popularity, k=self.top_k,
                                        titles=self.catalog.titles, shown=self.items_shown,
                                        config=self.blend)
        for q, picks in zip(b.lists, ranked):
            picks = self._explain_content(q.request.profile, picks)
            items = tuple(p.item_id for p in picks)
            if not q.repeat:  # a repeat of a list is not shown twice
                b.result.count(f"arm:{q.arm}", shown=1)
                for item in items:
                    b.result.count(f"item:{item}", shown=1)
            if q.generation == b.deletions.get(q.user, 0):  # the user was not deleted since
                explored = tuple(p.item_id for p in picks if p.kind == EXPLORE_KIND)
                log = b.served.get(q.user) or ServedLog()
                b.served[q.user] = log.served(q.rec_id, Served(q.arm, items, explored))
            b.result.recommendations.append(recommendation_event(
                q.rec_id, q.user, q.trigger, q.trigger_event_id, picks, self.model_version,
                q.source_ts))

    def _explain_content(self, profile: Profile | None,
                         picks: list[Recommendation]) -> list[Recommendation]:
        """Content picks name the item (or words) they resemble."""
        if profile is None or not any(p.kind == CONTENT for p in picks):
            return picks
        index = self.catalog.index
        explain = Explainer(profile, index, self.catalog.titles, query_vector(profile)[1],
                            self.catalog.categories)
        return [replace(p, reason=explain(p.item_id, index.vectors([p.item_id])[0]))
                if p.kind == CONTENT else p for p in picks]

    # --- page views ----------------------------------------------------------------------------
    def handle_page_views(self, events: Sequence[Mapping[str, Any]],
                          profiles: Mapping[str, Profile | None]) -> list[dict[str, Any]]:
        """One ad_slots event per page view: taste (and the page's item) x bid x estimated CTR."""
        ads = self.catalog.ads()
        out = []
        for event in events:
            profile = profiles.get(event["user_id"])
            user_vec = _with_context(query_vector(profile)[0],
                                     self._context_vector(event.get("context_item_id")))
            slots = [(s["slot_id"], s["position"]) for s in event["slots"]]
            placements = place_ads_by_ctr(user_vec, ads, slots, self.ad_ctr,
                                          popularity=self.popularity,
                                          exclude_items=profile.purchased if profile else ())
            out.append(ad_slots_event(event, placements))
        return out

    def _context_vector(self, item_id: str | None) -> np.ndarray | None:
        return self.catalog.item_vector(item_id) if item_id else None


def _with_context(user_vec: np.ndarray | None, item_vec: np.ndarray | None) -> np.ndarray | None:
    """The page's item pulls the ads toward itself; a user with no profile gets it alone."""
    if item_vec is None:
        return user_vec
    if user_vec is None:
        return item_vec
    blend = user_vec + item_vec
    return blend / max(float(np.linalg.norm(blend)), 1e-12)


def _event_ts(event: Mapping[str, Any]) -> int:
    """Event time: `ts`, or for an ad_slots event the page view's (`source_ts`)."""
    return int(event["ts"] if "ts" in event else event["source_ts"])
