"""Hot swap of the champion model: poll a source, load a new version, never stop scoring.

The registry (``detect/registry.py``, MODELS area) promotes and rolls back models;
the detector only needs "what is the champion's version now" and "load it". That
seam is :class:`ChampionSource`. :class:`ChampionWatcher` asks at most every
``check_interval_s`` seconds and swaps on the scoring thread between batches, so a
batch is always scored by one model. A failed load keeps the current model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from fraudstream.detect.base import ScoringModel
from fraudstream.errors import FraudstreamError
from fraudstream.features.contract import FEATURE_INDEX
from fraudstream.observe.metrics import DETECTOR_MODEL_SWAPS, MODEL_VERSION, version_number

logger = logging.getLogger(__name__)


@runtime_checkable
class ChampionSource(Protocol):
    """Where the champion model comes from (the model registry, or a fixed model)."""

    def champion_version(self) -> str | None:
        """The promoted version now, or None when nothing is promoted (cheap)."""
        ...

    def load_champion(self, version: str) -> ScoringModel:
        """Load that version (may be slow; called only when the version changed)."""
        ...


class StaticSource:
    """A fixed model (tests, benchmarks, or an explicitly pinned model).

    Example:
        >>> StaticSource(None).champion_version() is None
        True
    """

    def __init__(self, model: ScoringModel | None) -> None:
        self.model = model

    def champion_version(self) -> str | None:
        return None if self.model is None else self.model.version

    def load_champion(self, version: str) -> ScoringModel:
        assert self.model is not None
        return self.model


def check_model_features(model: ScoringModel) -> list[int]:
    """Columns of the contract's matrix the model reads, in its order.

    Raises:
        FraudstreamError (ConfigError): the model wants a feature the contract lacks.
    """
    from fraudstream.errors import ConfigError

    missing = [n for n in model.feature_names if n not in FEATURE_INDEX]
    if missing:
        raise ConfigError(f"model {model.version} needs features {missing} not in the contract")
    return [FEATURE_INDEX[n] for n in model.feature_names]


class ChampionWatcher:
    """Keeps the current champion, checking the source at most every ``check_interval_s``.

    Example:
        >>> w = ChampionWatcher(StaticSource(None))
        >>> w.current() is None
        True
    """

    def __init__(
        self,
        source: ChampionSource,
        check_interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.check_interval_s = check_interval_s
        self._clock = clock
        self._model: ScoringModel | None = None
        self._columns: list[int] = []
        self._version: str | None = None
        self._checked_at = -float("inf")
        self.last_error: str | None = None

    @property
    def columns(self) -> list[int]:
        """The feature-matrix columns of the current model."""
        return self._columns

    def current(self) -> ScoringModel | None:
        """The model in force (None: rules-only), swapping first if a new one is promoted."""
        now = self._clock()
        if now - self._checked_at < self.check_interval_s:
            return self._model
        self._checked_at = now
        try:
            version = self.source.champion_version()
        except (FraudstreamError, OSError) as exc:
            self.last_error = str(exc)
            logger.error("model registry unreadable, keeping %s: %s", self._version, exc)
            return self._model
        if version == self._version:
            return self._model
        if version is None:
            logger.warning("no champion model any more: rules-only scoring")
            self._model, self._columns, self._version = None, [], None
            return None
        try:
            model = self.source.load_champion(version)
            columns = check_model_features(model)
        except Exception as exc:  # any broken artifact (unpickling...) must not stop scoring
            self.last_error = f"{type(exc).__name__}: {exc}"
            logger.error("cannot load champion %s, keeping %s: %s", version, self._version, exc)
            self._version = version  # do not retry a broken artifact on every check
            return self._model
        logger.info("champion model swapped: %s -> %s", self._version, version)
        DETECTOR_MODEL_SWAPS.labels(model_version=version).inc()
        MODEL_VERSION.labels(component="scorer").set(version_number(version))
        self._model, self._columns, self._version = model, columns, version
        self.last_error = None
        return model
