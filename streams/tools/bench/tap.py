"""The pipeline bench's instruments: an output tap that stamps arrival times, progress, CPU time.

The bench talks to Kafka through aiokafka (as the worker does): its record batches are built and
parsed in C, so at thousands of events per second the bench leaves the two cores to the worker.
"""
from __future__ import annotations

import asyncio
import collections
import os
import subprocess
import sys
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from coldstart.config import Settings
from schemas.topics import OUTPUTS
from streams.admin import topic_partitions

MAX_BYTES = 8 * 1024 * 1024
Arrival = tuple[float, str, bytes]  # (wall-clock ms when consumed, contract topic, raw value)


class OutputTap:
    """A task consuming the output topics from their current end; each record stamped on arrival.

    The stamp is taken as soon as a fetch returns, before any decoding, so the time the bench
    spends on its own bookkeeping is not charged to the pipeline.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._names = {settings.topic(t): t for t in OUTPUTS}
        self._arrived: collections.deque[Arrival] = collections.deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False,
            fetch_max_wait_ms=100, max_partition_fetch_bytes=MAX_BYTES + 1024,
            client_id="coldstart-bench-tap")

    async def start(self) -> None:
        """Assign every partition of the output topics at its end; from here on nothing is missed."""
        await self._consumer.start()
        parts = [TopicPartition(topic, p) for topic in self._names
                 for p in await asyncio.to_thread(_partitions, topic, self.settings)]
        self._consumer.assign(parts)
        await self._consumer.seek_to_end(*parts)
        for tp in parts:
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._run(), name="bench-tap")

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            now = time.time() * 1000.0
            for tp, records in batches.items():
                name = self._names[tp.topic]
                self._arrived.extend((now, name, r.value) for r in records)
            if batches:
                self._wake.set()

    async def take(self, until: float) -> list[Arrival]:
        """What has arrived; waits until the loop time `until` for something to arrive."""
        if self._task is not None and self._task.done():
            raise RuntimeError(f"the output consumer stopped: {self._task.exception()!r}")
        if not self._arrived:
            timeout = until - asyncio.get_running_loop().time()
            if timeout > 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except TimeoutError:
                    pass
        out = list(self._arrived)
        self._arrived.clear()
        return out

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        await self._consumer.stop()


def _partitions(topic: str, settings: Settings, wait_s: float = 30.0) -> list[int]:
    """The topic's partitions; a topic created a moment ago on a broker that has just started may
    not be in its metadata yet, so a missing one is asked again for up to `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return topic_partitions(topic, settings.bootstrap_servers)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class Progress:
    """One status line on stderr: redrawn in place on a terminal, a line every 5 s otherwise."""

    def __init__(self, label: str, total: int, noun: str = "sent") -> None:
        self.label, self.total, self.noun = label, total, noun
        self.tty = sys.stderr.isatty()
        self.started = self._last = time.monotonic()
        self._line = ""

    def show(self, sent: int, answered: int, repeats: int = 0) -> None:
        now = time.monotonic()
        if now - self._last < (0.25 if self.tty else 5.0):
            return
        self._last = now
        seconds = now - self.started
        self._line = (f"{self.label:<18} {self.noun} {sent:>7}/{self.total:<7} answered "
                      f"{answered:>7} ({answered / max(seconds, 1e-9):8.1f}/s) "
                      f"repeats {repeats:<4} {seconds:6.1f}s")
        print(("\r" if self.tty else "") + self._line, end="" if self.tty else "\n",
              file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.tty and self._line:
            print(file=sys.stderr)


def process_cpu_seconds(process: subprocess.Popen[bytes] | None) -> float | None:
    """User + system CPU seconds of a running child, from /proc (None when unknown)."""
    if process is None or process.poll() is not None:
        return None
    try:
        with open(f"/proc/{process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_rss_mb(process: subprocess.Popen[bytes] | None) -> float | None:
    """Resident memory of a running child in MiB, from /proc (None when unknown)."""
    if process is None or process.poll() is not None:
        return None
    try:
        with open(f"/proc/{process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class MemorySampler:
    """A child's resident memory, sampled at most twice a second: at the start, peak, and end."""

    def __init__(self, process: subprocess.Popen[bytes] | None) -> None:
        self.process = process
        self.start = self.peak = self.last = process_rss_mb(process)
        self._at = time.monotonic()

    def sample(self) -> None:
        now = time.monotonic()
        if now - self._at < 0.5:
            return
        self._at = now
        rss = process_rss_mb(self.process)
        if rss is not None:
            self.last = rss
            self.peak = rss if self.peak is None else max(self.peak, rss)

    def figures(self) -> dict[str, float | None]:
        self._at = 0.0
        self.sample()
        return {k: None if v is None else round(v, 1)
                for k, v in (("start", self.start), ("peak", self.peak), ("end", self.last))}
