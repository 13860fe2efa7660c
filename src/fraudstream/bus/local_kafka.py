"""A real single-node Kafka broker (KRaft, broker + controller) without Docker.

:class:`LocalKafka` runs the Apache Kafka 4.x jars (see
:mod:`fraudstream.bus.kafka_dist`) as a detached JVM on ``127.0.0.1``, with all
its state in one data directory::

    <data_dir>/server.properties   written on every start
    <data_dir>/log4j2.properties
    <data_dir>/kraft/              the log dirs (formatted once)
    <data_dir>/broker.pid          pid of the running JVM
    <data_dir>/broker.log          its stdout/stderr

Replication factors and the transaction state log are set to 1 so transactions
work on one node; topic auto-creation is off.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from fraudstream.bus.kafka_dist import resolve_classpath
from fraudstream.errors import BusError, ConfigError

logger = logging.getLogger(__name__)

_LOG4J2 = """status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = info
logger.state.name = state.change.logger
logger.state.level = warn
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True)
class BrokerStatus:
    """What ``fraudstream kafka status`` reports."""

    running: bool
    pid: int | None
    bootstrap: str
    data_dir: Path


class LocalKafka:
    """Format, start, probe and stop one local KRaft broker.

    Example:
        >>> from pathlib import Path
        >>> kafka = LocalKafka(Path("var/kafka"), port=9092, controller_port=9093)
        >>> kafka.start()  # doctest: +SKIP
        '127.0.0.1:9092'
        >>> kafka.stop()  # doctest: +SKIP
        True
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int,
        controller_port: int,
        version: str = "4.1.0",
        cache_dir: Path = Path("~/.cache/fraudstream"),
        heap_mb: int = 512,
        java: str = "java",
    ) -> None:
        if port == controller_port:
            raise ConfigError("broker and controller ports must differ")
        self.data_dir = data_dir.resolve()
        self.port = port
        self.controller_port = controller_port
        self.version = version
        self.cache_dir = cache_dir
        self.heap_mb = heap_mb
        self.java = java
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    def fetch(self) -> Path:
        """Resolve the broker's jars (cached); return the classpath directory."""
        return resolve_classpath(self.cache_dir, self.version)

    # -- lifecycle ----------------------------------------------------------------
    def start(self, *, timeout_s: float = 90.0, wait_transactions: bool = True) -> str:
        """Start the broker unless it runs already; return its bootstrap address.

        Waits until an AdminClient really gets metadata (and, with
        ``wait_transactions``, until a transactional producer can initialise).

        Raises:
            BusError: the JVM died or did not answer in time (with the log's tail).
        """
        if self.pid() is not None:
            logger.info("broker already running (pid %s) on %s", self.pid(), self.bootstrap)
            self.wait_ready(timeout_s=timeout_s, wait_transactions=wait_transactions)
            return self.bootstrap
        java = shutil.which(self.java)
        if java is None:
            raise ConfigError("Java is not installed: apt-get install openjdk-17-jre-headless")
        for p in (self.port, self.controller_port):
            if _port_in_use(p):
                raise BusError(f"port {p} on 127.0.0.1 is already in use")
        lib = self.fetch()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = self._write_config()
        classpath = f"{lib}/*"
        jvm = [
            java,
            f"-Xmx{self.heap_mb}m",
            f"-Xms{min(self.heap_mb, 256)}m",
            "-XX:+UseSerialGC",  # two shared cores: a parallel collector only competes
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp",
            classpath,
        ]
        self._format(jvm, props)
        with open(self.log_file, "ab") as log:
            self._proc = subprocess.Popen(
                [*jvm, "kafka.Kafka", str(props)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # survives the CLI process that started it
                cwd=self.data_dir,
            )
        self.pid_file.write_text(f"{self._proc.pid}\n")
        logger.info("started Kafka %s (pid %d) on %s", self.version, self._proc.pid, self.bootstrap)
        self.wait_ready(timeout_s=timeout_s, wait_transactions=wait_transactions)
        return self.bootstrap

    def _write_config(self) -> Path:
        kraft = self.data_dir / "kraft"
        lines = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(kraft),
            "num.partitions": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "10",
            "auto.create.topics.enable": "false",
            "group.initial.rebalance.delay.ms": "0",
            # Kafka 4's group coordinator holds its writes (offset commits, and the
            # transaction markers of __consumer_offsets) up to 5 ms to batch them:
            # every exactly-once commit waited for it. One local broker: no batching.
            "group.coordinator.append.linger.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "log.retention.hours": "24",
            "log.segment.bytes": str(64 * 1024 * 1024),
        }
        props = self.data_dir / "server.properties"
        props.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        (self.data_dir / "log4j2.properties").write_text(_LOG4J2)
        return props

    def _format(self, jvm: list[str], props: Path) -> None:
        """Format the log dir once (KRaft needs a cluster id before the first start)."""
        if (self.data_dir / "kraft" / "meta.properties").exists():
            return
        cluster_id = new_cluster_id()
        # "--cluster-id=ID" rather than "-t ID": the tool's argument parser reads an id that
        # starts with "-" (one in 64 of them) as an option and refuses to format.
        cmd = [
            *jvm,
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={cluster_id}",
            f"--config={props}",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            raise BusError(
                f"formatting Kafka storage failed:\n{(proc.stdout + proc.stderr)[-3000:]}"
            )
        logger.info("formatted %s (cluster id %s)", self.data_dir / "kraft", cluster_id)

    def wait_ready(self, *, timeout_s: float = 90.0, wait_transactions: bool = True) -> None:
        """Block until the broker answers metadata requests (and transactions)."""
        from fraudstream.bus.kafka_probe import probe

        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if self.pid() is None:
                raise BusError(f"Kafka broker exited during start-up:\n{self.log_tail()}")
            last = probe(self.bootstrap, wait_transactions=wait_transactions, timeout_s=5.0)
            if not last:
                return
            time.sleep(0.5)
        raise BusError(
            f"Kafka broker on {self.bootstrap} not ready after {timeout_s:.0f} s ({last}):\n"
            f"{self.log_tail()}"
        )

    def pid(self) -> int | None:
        """The broker's pid when it is alive, else ``None`` (a stale pid file is removed)."""
        if self._proc is not None:  # started by this process: ask the child itself
            if self._proc.poll() is None:
                return self._proc.pid
            self._proc = None
            self.pid_file.unlink(missing_ok=True)
            return None
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if _is_kafka(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def stop(self, *, timeout_s: float = 30.0) -> bool:
        """SIGTERM, wait for a clean shutdown, SIGKILL after ``timeout_s``; True if it ran."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while self.pid() is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        if self.pid() is not None:
            logger.warning("Kafka broker %d ignored SIGTERM for %.0f s: killing it", pid, timeout_s)
            os.kill(pid, signal.SIGKILL)
            while self.pid() is not None:
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> BrokerStatus:
        pid = self.pid()
        return BrokerStatus(pid is not None, pid, self.bootstrap, self.data_dir)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return "(no broker log)"
        return "\n".join(text.splitlines()[-lines:])


def _is_kafka(pid: int) -> bool:
    """True if ``pid`` is a live JVM running ``kafka.Kafka`` (started by another process)."""
    proc = Path("/proc") / str(pid)
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    if state in ("Z", "X"):
        return False
    # An exiting process has already released its command line: still alive.
    return cmdline == b"" or b"kafka.Kafka" in cmdline


def new_cluster_id() -> str:
    """A random KRaft cluster id: 16 random bytes, URL-safe base64 without padding.

    Kafka's own generator never returns an id that starts with "-"; neither does this one.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id
