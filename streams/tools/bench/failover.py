"""The bench's fail-over: SIGKILL one worker of the group, time the first answer for its users.

One probe user per partition views an item every PERIOD_S, before and after the kill. For the
partitions the killed worker served (its last `serving user partitions` log line), the fail-over
time is the kill to the first answer to a view sent after it; the survivors' partitions give
the stall the rebalance costs everyone else: the longest wait between their answers (or from the
kill to the first one), probed until SETTLE_S after the dead worker's users are answered again.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from streams.partitioned import partition_for
from streams.tools.bench.latency import Ledger
from streams.tools.harness import serving_partitions

PERIOD_S = 0.1  # a view per probe user this often: the figure's resolution
WARM_S = 2.0  # probes answered before the kill, so the timing starts from a steady state
TIMEOUT_S = 120.0
SETTLE_S = 2.0  # probing goes on this long after every partition answered, to close the gaps

Send = Callable[[Any, Ledger, str, str, dict[str, Any]], Awaitable[None]]
Absorb = Callable[[Any, Ledger, float], Awaitable[list[str]]]


def users_per_partition(tag: str, partitions: int) -> list[str]:
    """One user id per partition (index = partition), by Kafka's default partitioner."""
    found: dict[int, str] = {}
    n = 0
    while len(found) < partitions:
        user = f"{tag}-{n}"
        found.setdefault(partition_for(user.encode(), partitions), user)
        n += 1
    return [found[p] for p in range(partitions)]


async def measure(run: Any, send: Send, absorb: Absorb, victim: int = -1) -> dict[str, Any]:
    """Kill `run.workers[victim]` (SIGKILL) while probing; the fail-over figures."""
    partitions = run.settings.partitions
    victim = victim % len(run.workers)
    owned = sorted(serving_partitions(run.worker_logs[victim]) or ())
    users = users_per_partition(f"{run.run_id}-fo", partitions)
    ledger, sent_at, partition_of = Ledger(), {}, {}
    loop = asyncio.get_running_loop()
    killed_ms: float | None = None
    first: dict[int, float] = {}  # partition -> first answer received after the kill (ms)
    received: dict[int, list[float]] = {}  # partition -> answers to views sent after the kill
    seen: set[str] = set()
    settled_at: float | None = None
    start = loop.time()
    item = run.items[0]
    n = 0
    while True:
        for p, user in enumerate(users):
            event_id = run.event_id("failover")
            partition_of[event_id] = p
            event = {"event_id": event_id, "user_id": user, "item_id": item, "action": "view"}
            await send(run, ledger, "clicks", user, event)
            sent_at[event_id] = event["ts"]
        n += 1
        await absorb(run, ledger, start + n * PERIOD_S)
        if killed_ms is None and loop.time() - start >= WARM_S:
            killed_ms = time.time() * 1000.0
            run.workers[victim].kill()
            run.killed.add(victim)
        if killed_ms is not None:
            for answer in ledger.answers["clicks"]:
                p = partition_of.get(answer.event_id, -1)
                if p < 0 or answer.event_id in seen or sent_at[answer.event_id] < killed_ms:
                    continue
                seen.add(answer.event_id)
                received.setdefault(p, []).append(answer.received_ms)
                first.setdefault(p, answer.received_ms)
            if len(first) == partitions and settled_at is None:
                settled_at = loop.time()
            if (settled_at is not None and loop.time() - settled_at >= SETTLE_S) or \
                    loop.time() - start > WARM_S + TIMEOUT_S:
                break
    run.workers[victim].wait(30)
    after = {p: round((first[p] - killed_ms) / 1000, 2) for p in sorted(first)}
    dead = [after[p] for p in owned if p in after]
    alive = [longest_gap(received[p], killed_ms) for p in after if p not in owned]
    return {"killed_worker": victim, "its_partitions": owned,
            "first_answer_s": {str(p): s for p, s in after.items()},
            "failover_s": max(dead) if len(dead) == len(owned) and owned else None,
            "survivors_stall_s": max(alive) if alive else None,
            "unanswered_partitions": [p for p in range(partitions) if p not in first],
            "session_timeout_s": run.settings.session_timeout_s,
            "standby_replicas": run.settings.standby_replicas,
            "killed_at": round(killed_ms / 1000, 3),
            "survivors_stall_from_s": {str(p): gap_start(received[p], killed_ms)
                                       for p in after if p not in owned}}


def gap_start(received_ms: list[float], since_ms: float) -> float:
    """Seconds from `since_ms` to the start of the longest wait (see `longest_gap`)."""
    times = sorted(received_ms)
    gaps = [(b - a, a) for a, b in zip([since_ms, *times], times)]
    return round((max(gaps, default=(0.0, since_ms))[1] - since_ms) / 1000, 2)


def longest_gap(received_ms: list[float], since_ms: float) -> float:
    """The longest wait, in seconds, from `since_ms` to the first answer or between two answers."""
    times = sorted(received_ms)
    gaps = [b - a for a, b in zip([since_ms, *times], times)]
    return round(max(gaps, default=0.0) / 1000, 2)


def report(found: dict[str, Any]) -> str:
    """One line for the bench's report."""
    if found.get("failover_s") is None:
        return (f"fail-over: worker {found['killed_worker']} SIGKILLed; partitions "
                f"{found['unanswered_partitions']} got no answer within {TIMEOUT_S:.0f}s")
    return (f"fail-over: worker {found['killed_worker']} (partitions {found['its_partitions']}) "
            f"SIGKILLed -> first answer for its users after {found['failover_s']:.2f} s; the "
            f"survivors' users stalled up to {found['survivors_stall_s']} s (session timeout "
            f"{found['session_timeout_s']} s, standby replicas {found['standby_replicas']})")
