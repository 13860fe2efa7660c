"""The Apache Kafka broker's jars, resolved from Maven Central with Maven.

``resolve_classpath`` writes a tiny pom that depends on
``org.apache.kafka:kafka_2.13:<version>`` plus an SLF4J binding for log4j2 and
runs ``mvn dependency:copy-dependencies`` into a per-version cache directory
(``<cache>/kafka-<version>/lib``). A stamp file marks a complete download, so the
second call does nothing; Maven's own ``~/.m2`` cache makes a re-download cheap.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

from fraudstream.errors import ConfigError

logger = logging.getLogger(__name__)

# Kafka 4.x logs through SLF4J 1.7 to log4j2; this binding routes one to the other.
LOG4J_VERSION = "2.24.3"

_POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.fraudstream</groupId>
  <artifactId>local-kafka</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{version}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""


def dist_dir(cache_dir: Path, version: str) -> Path:
    """Where the jars of one Kafka version live."""
    return cache_dir.expanduser() / f"kafka-{version}"


def is_resolved(cache_dir: Path, version: str) -> bool:
    return (dist_dir(cache_dir, version) / ".complete").exists()


def resolve_classpath(cache_dir: Path, version: str, *, timeout_s: float = 900.0) -> Path:
    """Download (once) the broker's jars; return the directory that holds them.

    Raises:
        ConfigError: Maven is missing, the version does not exist, or Maven failed.

    Example:
        >>> lib = resolve_classpath(Path("~/.cache/fraudstream"), "4.1.0")  # doctest: +SKIP
        >>> (lib / "kafka_2.13-4.1.0.jar").exists()  # doctest: +SKIP
        True
    """
    if not version.startswith("4."):
        raise ConfigError(f"kafka_version must be a 4.x release, got {version!r}")
    home = dist_dir(cache_dir, version)
    lib = home / "lib"
    if is_resolved(cache_dir, version):
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ConfigError("Maven (mvn) is not installed: apt-get install maven")
    home.mkdir(parents=True, exist_ok=True)
    (home / "pom.xml").write_text(_POM.format(version=version, log4j=LOG4J_VERSION))
    if lib.exists():
        shutil.rmtree(lib)  # a half-finished earlier download
    cmd = [
        mvn,
        "-B",
        "-q",
        "-Dstyle.color=never",
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={lib}",
    ]
    logger.info("resolving org.apache.kafka:kafka_2.13:%s with Maven into %s", version, lib)
    try:
        proc = subprocess.run(
            cmd, cwd=home, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ConfigError(f"Maven did not finish within {timeout_s:.0f} s") from exc
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise ConfigError(f"Maven could not resolve Kafka {version}:\n{tail}")
    jar = lib / f"kafka_2.13-{version}.jar"
    if not jar.exists():
        raise ConfigError(f"Maven finished but {jar} is missing")
    (home / ".complete").write_text(version + "\n")
    return lib
