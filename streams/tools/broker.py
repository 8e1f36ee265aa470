"""A local single-node Apache Kafka 3.9.1 broker (KRaft) for development and tests.

The jars come from Maven Central through `streams/tools/kafka/pom.xml`, resolved once into a cache
outside the repository (`COLDSTART_HOME`, default `~/.cache/coldstart`). No Docker needed; users
who have Docker can use `docker compose up` instead.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from coldstart.errors import ColdstartError

KAFKA_VERSION = "3.9.1"


class BrokerError(ColdstartError):
    """The local broker cannot be installed, started or stopped."""


def coldstart_home() -> Path:
    """Cache root outside the repository: jars, the local broker's data, the venv."""
    return Path(os.environ.get("COLDSTART_HOME") or Path.home() / ".cache" / "coldstart")


@dataclass(frozen=True)
class BrokerConfig:
    """Where the local broker listens and keeps its files."""

    port: int = 9092
    host: str = "127.0.0.1"
    data_dir: Path = coldstart_home() / "broker"
    log_file: Path | None = None
    heap_mb: int = 512

    @property
    def controller_port(self) -> int:
        return self.port + 1

    @property
    def log_path(self) -> Path:
        return self.log_file or self.data_dir / "logs" / "server.log"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def server_properties(config: BrokerConfig) -> str:
    """A KRaft combined broker+controller tuned small for one machine."""
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{config.host}:{config.controller_port}",
        f"listeners=PLAINTEXT://{config.host}:{config.port},CONTROLLER://{config.host}:{config.controller_port}",
        f"advertised.listeners=PLAINTEXT://{config.host}:{config.port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={config.data_dir / 'kraft-logs'}",
        "num.partitions=4",
        "auto.create.topics.enable=true",
        "offsets.topic.num.partitions=4",
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "transaction.state.log.num.partitions=4",
        "group.initial.rebalance.delay.ms=0",
        # Compacted changelog topics need the cleaner; its default 128 MiB buffer is too big here.
        "log.cleaner.dedupe.buffer.size=16777216",
        "log.cleaner.backoff.ms=5000",
        # Accept records of a few MiB so that oversized events reach the worker's dead letters.
        "message.max.bytes=8388608",
        "replica.fetch.max.bytes=8388608",
        "log.retention.hours=168",
        "num.network.threads=2",
        "num.io.threads=4",
        "",
    ])


class LocalBroker:
    """Installs, formats, starts, stops and probes one local Kafka broker."""

    def __init__(self, config: BrokerConfig | None = None) -> None:
        self.config = config or BrokerConfig()
        self.jars_dir = coldstart_home() / "kafka" / KAFKA_VERSION / "libs"

    # -- installation -------------------------------------------------------------------
    def ensure_jars(self) -> Path:
        """Resolve the Kafka jars from Maven Central once; later calls reuse the cache."""
        if self.jars_dir.is_dir() and any(self.jars_dir.glob("kafka_2.13-*.jar")):
            return self.jars_dir
        _require_tool("java", "Java 17")
        _require_tool("mvn", "Apache Maven")
        work = self.jars_dir.parent
        work.mkdir(parents=True, exist_ok=True)
        pom = work / "pom.xml"
        pom.write_bytes(resources.files("streams.tools.kafka").joinpath("pom.xml").read_bytes())
        print(f"Resolving Apache Kafka {KAFKA_VERSION} jars from Maven Central into {self.jars_dir} ...",
              flush=True)
        tmp = work / "libs.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        result = subprocess.run(
            ["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
             f"-DoutputDirectory={tmp}", "-DincludeScope=runtime"],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise BrokerError("Maven could not resolve the Kafka jars:\n" + result.stdout[-2000:]
                              + result.stderr[-2000:])
        tmp.rename(self.jars_dir)
        return self.jars_dir

    def _java(self, main_class: str, *args: str) -> list[str]:
        log4j = self.config.data_dir / "log4j.properties"
        return [
            "java", f"-Xms{self.config.heap_mb}m", f"-Xmx{self.config.heap_mb}m",
            "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.config.log_path.parent}",
            f"-Dlog4j.configuration=file:{log4j}",
            "-cp", str(self.jars_dir / "*"), main_class, *args,
        ]

    def _prepare(self) -> Path:
        """Write config files and format storage once (KRaft needs a cluster id)."""
        data = self.config.data_dir
        data.mkdir(parents=True, exist_ok=True)
        self.config.log_path.parent.mkdir(parents=True, exist_ok=True)
        (data / "log4j.properties").write_bytes(
            resources.files("streams.tools.kafka").joinpath("log4j.properties").read_bytes())
        props = data / "server.properties"
        props.write_text(server_properties(self.config))
        if not (data / "kraft-logs" / "meta.properties").exists():
            cluster_id = _kafka_cluster_id()
            result = subprocess.run(
                self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props),
                           "--ignore-formatted"),
                capture_output=True, text=True,
            )
            if result.returncode != 0:
                raise BrokerError("formatting broker storage failed:\n" + result.stdout[-2000:]
                                  + result.stderr[-2000:])
        return props

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def pid_file(self) -> Path:
        return self.config.data_dir / "broker.pid"

    def pid(self) -> int | None:
        """The broker's pid if our broker process is alive."""
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            return None
        return pid

    def accepts_connections(self, timeout: float = 0.5) -> bool:
        try:
            with socket.create_connection((self.config.host, self.config.port), timeout=timeout):
                return True
        except OSError:
            return False

    def start(self, timeout: float = 90.0) -> float:
        """Start (idempotently) and return the seconds it took to accept connections."""
        began = time.monotonic()
        if self.pid() and self.accepts_connections():
            return 0.0
        if self.accepts_connections():
            raise BrokerError(f"port {self.config.port} is taken by another process; "
                              "choose another with --port")
        self.ensure_jars()
        props = self._prepare()
        console = open(self.config.log_path.parent / "console.log", "ab")
        env = dict(os.environ, KAFKA_HEAP_OPTS=f"-Xmx{self.config.heap_mb}m")
        process = subprocess.Popen(self._java("kafka.Kafka", str(props)), stdout=console,
                                   stderr=subprocess.STDOUT, start_new_session=True, env=env)
        self.pid_file.write_text(str(process.pid))
        while time.monotonic() - began < timeout:
            if process.poll() is not None:
                raise BrokerError(f"broker exited with code {process.returncode}; see "
                                  f"{self.config.log_path} and {console.name}")
            if self.accepts_connections() and _kafka_ready(self.config.address):
                return time.monotonic() - began
            time.sleep(0.2)
        self.stop()
        raise BrokerError(f"broker did not accept connections within {timeout:.0f}s; "
                          f"see {self.config.log_path}")

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop cleanly (SIGTERM, then SIGKILL after timeout). False if nothing was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> str:
        pid = self.pid()
        if pid and self.accepts_connections():
            return f"running: pid {pid}, kafka://{self.config.address}, data {self.config.data_dir}"
        if pid:
            return f"starting or unhealthy: pid {pid}, port {self.config.port} not accepting yet"
        if self.accepts_connections():
            return f"not ours: something else listens on {self.config.address}"
        return f"stopped (data {self.config.data_dir})"


def _require_tool(name: str, what: str) -> None:
    if shutil.which(name) is None:
        raise BrokerError(f"{what} ({name}) is not installed, and the local broker needs it. "
                          f"Install it (e.g. apt-get install openjdk-17-jre-headless maven), "
                          "or run the broker with Docker: docker compose up -d kafka")


def _kafka_cluster_id() -> str:
    """Kafka cluster ids are a base64url UUID without padding, 22 characters.

    Like Kafka's own Uuid.randomUuid, never one starting with '-': the storage tool would take
    it for an option ("argument --cluster-id/-t: expected one argument"), 1 start in 64.
    """
    import base64
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _kafka_ready(address: str) -> bool:
    """True when the broker answers a metadata request (not only the TCP accept)."""
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError
    try:
        consumer = KafkaConsumer(bootstrap_servers=address, request_timeout_ms=3000)
    except (KafkaError, OSError, ValueError):
        return False
    try:
        consumer.topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        consumer.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours still answers kill(0); reap it
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True
