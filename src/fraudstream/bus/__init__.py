"""The message bus: one protocol, a Kafka backend and an in-process backend.

:func:`open_bus` picks the backend by the short key in ``settings.bus`` through a
registry that imports lazily (confluent-kafka is loaded only for ``"kafka"``) and
refuses unknown keys with :class:`~fraudstream.errors.ConfigError`.

A :class:`~fraudstream.bus.memory.MemoryBus` is one in-process "cluster": every
call of ``open_bus`` with ``bus="memory"`` returns a *new, empty* one, so a process
that runs several stages on the memory bus opens it once and passes the instance on.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from fraudstream.bus.base import (
    Bus,
    Consumer,
    Message,
    Producer,
    RebalanceCallback,
    TopicPartition,
    TransactionalProducer,
)
from fraudstream.errors import ConfigError

if TYPE_CHECKING:
    from fraudstream.settings import Settings

__all__ = [
    "BACKENDS",
    "Bus",
    "Consumer",
    "Message",
    "Producer",
    "RebalanceCallback",
    "TopicPartition",
    "TransactionalProducer",
    "open_bus",
]

# key -> "module:factory"; the factory takes the Settings and returns a Bus.
BACKENDS: dict[str, str] = {
    "memory": "fraudstream.bus.memory:bus_from_settings",
    "kafka": "fraudstream.bus.kafka:bus_from_settings",
}


def open_bus(settings: Settings) -> Bus:
    """Open the bus named by ``settings.bus``.

    Example:
        >>> from fraudstream.settings import Settings
        >>> bus = open_bus(Settings(bus="memory"))
        >>> bus.create_topics({"t": 2}); bus.partitions_for("t")
        2
    """
    return _factory(settings.bus)(settings)


def _factory(key: str) -> Callable[[Settings], Bus]:
    try:
        target = BACKENDS[key]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        raise ConfigError(f"unknown bus {key!r}; choose one of: {known}") from None
    module_name, attr = target.split(":")
    factory: Callable[[Settings], Bus] = getattr(importlib.import_module(module_name), attr)
    return factory
