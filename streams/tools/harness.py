"""A pipeline of one's own, for the bench and the simulation: broker, worker subprocess, cleanup.

Each run gets its own topic prefix and data directory, so it never sees (or disturbs) another
run's state on a shared broker; item vectors are shared between runs, so only the first one embeds
a catalogue.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kafka.admin import KafkaAdminClient

from coldstart.config import Settings
from coldstart.errors import ColdstartError
from streams.tools.broker import LocalBroker, coldstart_home


def ensure_broker(settings: Settings, who: str = "bench") -> bool:
    """Start the default local broker when the default address is asked for and nothing answers;
    True when it was started here (so the caller stops it)."""
    broker = LocalBroker()
    if settings.bootstrap_servers == broker.config.address and not broker.accepts_connections():
        print(f"{who}: no broker at 127.0.0.1:9092, starting a local one ...", file=sys.stderr)
        broker.start()
        return True
    return False


@contextmanager
def local_broker(settings: Settings, who: str = "bench") -> Iterator[None]:
    """The broker for a tool's run: the default local one is started when it is asked for and
    nothing answers, and stopped again afterwards; any other broker is left as it is."""
    started = ensure_broker(settings, who)
    try:
        yield
    finally:
        if started:
            LocalBroker().stop()


def share_vector_cache(data_dir: Path, who: str = "bench") -> None:
    """Item vectors live in a cache shared by runs, so a second run embeds no catalogue."""
    shared = coldstart_home() / "bench" / "text-vectors"
    shared.mkdir(parents=True, exist_ok=True)
    link = data_dir / "text-vectors"
    if link.exists():
        return
    unusable = _unusable_cache(shared)
    if unusable:
        print(f"{who}: not sharing the vector cache ({unusable}); this run embeds its catalogue "
              "into a cache of its own", file=sys.stderr)
        return
    link.symlink_to(shared, target_is_directory=True)


def _unusable_cache(shared: Path) -> str:
    """Why a worker could not open a per-model cache under `shared` ("" if it could).

    RocksDB allows one process per directory (a second worker on it would crash at start), and
    a cache opened with other options than the worker's would fail the same way.
    """
    from rocksdict import Rdict

    for path in sorted(p for p in shared.iterdir() if p.is_dir()):
        try:
            Rdict(str(path)).close()
        except Exception as exc:  # rocksdict raises a bare Exception
            reason = "in use by another process" if "lock" in str(exc).lower() else str(exc)
            return f"{path.name}: {reason[:120]}"
    return ""


def copy_vector_cache(data_dir: Path, who: str = "bench") -> None:
    """A private copy of the shared vector cache for a second worker of one run: RocksDB opens a
    directory in one process only, so two workers cannot share it, but a copy embeds nothing."""
    shared = coldstart_home() / "bench" / "text-vectors"
    target = data_dir / "text-vectors"
    if target.exists() or not shared.is_dir() or _unusable_cache(shared):
        return
    shutil.copytree(shared, target)
    print(f"{who}: copied the vector cache into {target}", file=sys.stderr)


SERVING = re.compile(r"coldstart: serving (?:user partitions ([\d,]+)|no user partitions)")


def serving_partitions(log: Path) -> set[int] | None:
    """The user partitions a worker last said it serves (streams/assignment.py); None before
    its first rebalance completed."""
    found = SERVING.findall(log.read_text(errors="replace")) if log.exists() else []
    if not found:
        return None
    return {int(p) for p in found[-1].split(",")} if found[-1] else set()


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment that gives `coldstart worker` these settings (the rest inherited, the model
    too unless `settings.model` names one)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLDSTART_BROKER=settings.broker,
               COLDSTART_TOPIC_PREFIX=settings.topic_prefix,
               COLDSTART_DATA_DIR=str(settings.data_dir),
               COLDSTART_PARTITIONS=str(settings.partitions),
               COLDSTART_EXPLORE_RATE=str(settings.explore_rate),
               COLDSTART_METRICS_PORT=str(settings.metrics_port),
               COLDSTART_FORGET_MS=str(settings.forget_ms),
               COLDSTART_SESSION_TIMEOUT_S=str(settings.session_timeout_s),
               COLDSTART_STANDBY_REPLICAS=str(settings.standby_replicas))
    if settings.model:
        env["COLDSTART_MODEL"] = settings.model
    return env


def worker_command() -> list[str]:
    """How to run `coldstart worker`: the installed console script beside this Python, else the module."""
    command = shutil.which("coldstart", path=str(Path(sys.executable).parent))
    return [command, "worker"] if command else [sys.executable, "-m", "streams.tools.cli", "worker"]


def spawn_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """The one way the tools and tests start a worker: `coldstart worker` with `env`, its output
    (stdout and stderr) in `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as sink:
        return subprocess.Popen(worker_command(), env=env, stdout=sink, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def start_worker(settings: Settings, who: str = "bench",
                 log: Path | None = None) -> tuple[subprocess.Popen[bytes], Path]:
    """`coldstart worker` on `settings`, its output in `log` (default DATA_DIR/worker.log)."""
    log = log or settings.data_dir / "worker.log"
    process = spawn_worker(worker_env(settings), log)
    print(f"{who}: worker pid {process.pid} on topics {settings.topic_prefix}*, log {log}",
          file=sys.stderr)
    return process, log


def wait_for_log(process: subprocess.Popen[bytes], log: Path, text: str, timeout: float) -> None:
    """Until the worker's log says `text`; an error if it exits or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        if process.poll() is not None:
            raise ColdstartError(f"the worker exited with code {process.returncode} before "
                                 f"logging {text!r}; see {log}")
        if time.monotonic() > deadline:
            raise ColdstartError(f"the worker did not log {text!r} within {timeout:.0f}s; "
                                 f"see {log}")
        time.sleep(0.5)


def stop_worker(process: subprocess.Popen[bytes] | None, grace: float = 60.0) -> None:
    """SIGTERM, then SIGKILL if it has not stopped within `grace` seconds."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def delete_topics(settings: Settings, who: str = "bench") -> None:
    """Remove this run's topics (its own prefix, never shared ones)."""
    if not settings.topic_prefix:
        return
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers,
                             client_id=f"coldstart-{who}")
    try:
        mine = [t for t in admin.list_topics() if t.startswith(settings.topic_prefix)]
        if mine:
            admin.delete_topics(mine)
    except Exception as error:  # cleanup only: say so, never hide the result
        print(f"{who}: could not delete topics {settings.topic_prefix}*: {error!r}",
              file=sys.stderr)
    finally:
        admin.close()
