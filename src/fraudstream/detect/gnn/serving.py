"""The graph signal as the pipeline builds it from settings, and its crash recovery.

``FRAUDSTREAM_DETECTION__GRAPH=on`` makes :func:`fraudstream.detect.load_detector`
blend :func:`graph_signal_from_settings` into the ensemble. The live model is read
from ``detection.graph_model_dir`` (default ``<model_dir>/live-gnn``, written by
``fraudstream gnn train-live``); without one the signal still updates the graph
and gives its reasons, with a score of 0.

After a crash the graph is empty; :func:`replay_into` rebuilds it from a window
of the ``transactions`` topic (the graph is a pure function of the events
replayed into it, see :meth:`~fraudstream.detect.gnn.live.LiveGraph.rebuild`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudstream.detect.gnn.live import LiveGraph, LiveGraphConfig
from fraudstream.detect.gnn.signal import GraphSignal

if TYPE_CHECKING:
    from fraudstream.bus.base import Bus, TopicPartition
    from fraudstream.settings import Settings

logger = logging.getLogger(__name__)

LIVE_MODEL_DIR = "live-gnn"


def model_dir(settings: Settings) -> Path:
    """Where the live model lives for ``settings``."""
    d = settings.detection.graph_model_dir
    return d if d is not None else settings.model_dir / LIVE_MODEL_DIR


def graph_signal_from_settings(settings: Settings) -> GraphSignal:
    """The :class:`GraphSignal` of ``settings.detection`` (model loaded if present).

    Raises:
        ConfigError: a live model is there but does not load.

    Example:
        >>> from fraudstream.settings import Settings
        >>> sig = graph_signal_from_settings(Settings(model_dir="/nonexistent"))
        >>> sig.model is None, sig.fanout
        (True, 16)
    """
    d = settings.detection
    folder = model_dir(settings)
    model: Any = None
    if (folder / "live_gnn.pt").exists():
        from fraudstream.detect.gnn.live_model import load_live_model

        model = load_live_model(folder)
    else:
        logger.warning("graph signal on but no live GNN in %s: reasons only, score 0", folder)
    graph = LiveGraph(LiveGraphConfig(max_neighbours=d.graph_max_neighbours))
    return GraphSignal(model, graph, fanout=d.graph_fanout)


def replay_into(
    graph: LiveGraph,
    bus: Bus,
    topic: str,
    decode: Callable[[Sequence[bytes]], list[dict[str, Any]]],
    *,
    max_records_per_partition: int = 2_000_000,
    until: dict[TopicPartition, int] | None = None,
    batch: int = 10_000,
) -> int:
    """Rebuild ``graph`` from the tail of ``topic`` (all partitions); returns the count.

    Reads each partition from ``max(low, end - max_records_per_partition)`` to
    ``until[tp]`` (e.g. the scoring group's committed offsets) or the high
    watermark, so that the graph holds what it held when the worker stopped.
    Records older than ``cold_after_s`` are evicted as usual.
    """
    from fraudstream.bus.base import TopicPartition

    consumer = bus.consumer(f"graph-replay-{id(graph):x}")
    tps = [TopicPartition(topic, p) for p in range(bus.partitions_for(topic))]
    ends: dict[TopicPartition, int] = {}
    try:
        consumer.assign(tps)
        for tp in tps:
            low, high = consumer.watermarks(tp)
            end = high if until is None else min(high, until.get(tp, high))
            if end > low:
                ends[tp] = end
                consumer.seek(tp, max(low, end - max_records_per_partition))
        n, idle = 0, 0
        pending = dict(ends)
        # Transaction markers take offsets but are never returned: stop when idle too.
        while pending and idle < 3:
            msgs = consumer.poll_batch(batch, 1.0)
            idle = 0 if msgs else idle + 1
            keep = [m for m in msgs if m.tp in pending and m.offset < pending[m.tp]]
            if keep:
                graph.update(decode([m.value for m in keep if m.value is not None]))
                n += len(keep)
            for m in msgs:
                if m.tp in pending and m.offset + 1 >= pending[m.tp]:
                    del pending[m.tp]
    finally:
        consumer.close()
    logger.info("live graph rebuilt from %d records of %s: %d nodes", n, topic, graph.num_nodes)
    return n
