"""Latency bookkeeping as plain values: percentiles, summaries, and a ledger of sent and answered events.

`Ledger` matches output events to the input events they answer. A signup, search or page view is
answered by the output naming its event id. Clicks are coalesced (one refresh for a burst by one
user), so a click refresh answers the click it names and every earlier unanswered click by that
user. Latency is receive time minus the event's `ts`, in milliseconds.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

COALESCED = frozenset({"clicks"})


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("expected at least one value, got none")
    if not 0 <= q <= 100:
        raise ValueError(f"expected q in [0, 100], got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values: Sequence[float], digits: int = 1) -> dict[str, float]:
    """count, mean, min, p50, p95, p99, max of `values` (count 0 and nothing else when empty)."""
    if not values:
        return {"count": 0}
    out = {"count": len(values), "mean": sum(values) / len(values), "min": min(values)}
    out.update({f"p{q}": percentile(values, q) for q in (50, 95, 99)})
    out["max"] = max(values)
    return {k: (v if k == "count" else round(v, digits)) for k, v in out.items()}


def rate(count: int, seconds: float) -> float:
    """Events per second (0.0 for a zero or negative span)."""
    return count / seconds if seconds > 0 else 0.0


@dataclass
class _Pending:
    ts: float
    user: str
    seq: int  # position among this user's events of this kind


@dataclass
class Answer:
    """One input event answered: when it was sent, when its answer was produced and received."""

    kind: str
    event_id: str
    sent_ms: float
    produced_ms: float
    received_ms: float

    @property
    def latency_ms(self) -> float:
        """End to end: the event's ts to the output's arrival at the consumer."""
        return self.received_ms - self.sent_ms

    @property
    def worker_ms(self) -> float:
        """The event's ts to the worker stamping the output (`produced_ts`)."""
        return self.produced_ms - self.sent_ms


@dataclass
class Ledger:
    """Sent events by kind, and the answers outputs gave them; repeats counted, never double-timed."""

    pending: dict[str, dict[str, _Pending]] = field(default_factory=lambda: defaultdict(dict))
    answers: dict[str, list[Answer]] = field(default_factory=lambda: defaultdict(list))
    repeats: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    unknown: int = 0  # outputs naming no event of ours
    _seq: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    _by_user: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    _sent: dict[str, dict[str, _Pending]] = field(default_factory=lambda: defaultdict(dict))

    def sent(self, kind: str, event_id: str, user: str, ts_ms: float) -> None:
        """Record an input event as produced at `ts_ms` (its `ts`)."""
        seq = self._seq[kind, user]
        self._seq[kind, user] = seq + 1
        entry = _Pending(ts_ms, user, seq)
        self.pending[kind][event_id] = entry
        self._sent[kind][event_id] = entry
        if kind in COALESCED:
            self._by_user[kind, user].append(event_id)

    def received(self, kind: str, event_id: str, produced_ms: float, received_ms: float) -> int:
        """An output for `event_id` of `kind` arrived; return how many sent events it answered."""
        entry = self._sent[kind].get(event_id)
        if entry is None:
            self.unknown += 1
            return 0
        if kind in COALESCED:
            ids = self._by_user[kind, entry.user][: entry.seq + 1]
        else:
            ids = [event_id]
        answered = 0
        for eid in ids:
            waiting = self.pending[kind].pop(eid, None)
            if waiting is not None:
                self.answers[kind].append(Answer(kind, eid, waiting.ts, produced_ms, received_ms))
                answered += 1
        if answered == 0:
            self.repeats[kind] += 1
        return answered

    def count_sent(self, kind: str) -> int:
        return len(self._sent[kind])

    def missing(self, kind: str) -> list[str]:
        """Event ids of `kind` not answered yet."""
        return list(self.pending[kind])

    def latencies(self, kind: str) -> list[float]:
        return [a.latency_ms for a in self.answers[kind]]

    def worker_latencies(self, kind: str) -> list[float]:
        return [a.worker_ms for a in self.answers[kind]]


def span_ms(answers: Iterable[Answer]) -> tuple[float, float] | None:
    """(first sent, last received) over `answers`, or None when there are none."""
    answers = list(answers)
    if not answers:
        return None
    return min(a.sent_ms for a in answers), max(a.received_ms for a in answers)
