"""The backend registry of fraudstream.bus."""

from __future__ import annotations

import sys

import pytest

from fraudstream.bus import BACKENDS, open_bus
from fraudstream.bus.memory import MemoryBus
from fraudstream.errors import ConfigError
from fraudstream.settings import Settings


def test_memory_key_opens_a_fresh_memory_bus() -> None:
    s = Settings(bus="memory")
    a, b = open_bus(s), open_bus(s)
    assert isinstance(a, MemoryBus) and a is not b


def test_unknown_key_is_refused() -> None:
    s = Settings(bus="memory")
    object.__setattr__(s, "bus", "rabbit")
    with pytest.raises(ConfigError, match="rabbit"):
        open_bus(s)


def test_registry_imports_lazily() -> None:
    assert set(BACKENDS) == {"memory", "kafka"}
    code = "import fraudstream.bus, sys; print('fraudstream.bus.kafka' in sys.modules)"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_kafka_key_opens_a_kafka_bus_without_connecting() -> None:
    from fraudstream.bus.kafka import KafkaBus

    bus = open_bus(Settings(bus="kafka", kafka={"bootstrap_servers": "127.0.0.1:1"}))
    assert isinstance(bus, KafkaBus)
    assert bus.settings.bootstrap_servers == "127.0.0.1:1"
