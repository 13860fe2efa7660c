"""Real services for the integration tier: a throwaway PostgreSQL cluster.

(The Kafka broker comes from the product itself: ``fraudstream.bus.local_kafka``.)
PostgreSQL refuses to run as root, so when the tests run as root the cluster is
initialised and started as the ``postgres`` OS user (``runuser``) in a data
directory that user owns, listening on 127.0.0.1 on a free port, trust auth.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from fraudstream.bus.local_kafka import free_port


def _pg_bin() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError(
        "PostgreSQL binaries not found (apt-get install postgresql, or run "
        "scripts/bootstrap-test-deps.sh, or set FRAUDSTREAM_TEST_PG_URL)"
    )


def _version_key(path: str) -> tuple[int, ...]:
    part = Path(path).parent.parent.name
    return tuple(int(x) for x in part.split(".") if x.isdigit())


class LocalPostgres:
    """One PostgreSQL cluster in a temporary directory, with stop/start for outage tests.

    Example:
        >>> pg = LocalPostgres(); pg.start()  # doctest: +SKIP
        >>> pg.url  # doctest: +SKIP
        'postgresql+psycopg://postgres@127.0.0.1:54321/fraudstream'
        >>> pg.stop(); pg.start(); pg.destroy()  # doctest: +SKIP
    """

    database = "fraudstream"

    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="fraudstream-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._initdb()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{self.database}"

    @property
    def running(self) -> bool:
        r = self._run("pg_ctl", "-D", str(self.data), "status", check=False)
        return r.returncode == 0

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        cmd = [*prefix, str(self.bin / tool), *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if check and r.returncode != 0:
            raise RuntimeError(
                f"{tool} failed ({r.returncode}):\n{r.stdout}{r.stderr}\n{self.log_tail()}"
            )
        return r

    def _initdb(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--no-sync", "--no-instructions",
        )  # fmt: skip

    def start(self) -> None:
        # fsync off: test data need not survive a power cut; a clean stop still flushes.
        opts = (
            f"-p {self.port} -h 127.0.0.1 -k {self.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            opts,
            "-w",
            "-t",
            "60",
            "start",
        )
        self._wait_accepting()
        with psycopg.connect(self._dsn("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    def _dsn(self, db: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def _wait_accepting(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(self._dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL did not accept connections:\n{self.log_tail()}"
                    ) from None
                time.sleep(0.2)

    def stop(self) -> None:
        """Fast shutdown (clients are disconnected), as in a database outage."""
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except (FileNotFoundError, PermissionError):
            return "(no postgres log)"
