"""Detection: rules, tabular models, GNN, ensemble, decision policy, registry.

:func:`load_detector` is what the pipeline and the API call: the
:class:`~fraudstream.detect.detector.EnsembleDetector` over the packaged (or
configured) rule set, the registry's champion model with hot swap, and the
decision policy of ``settings.detection``.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fraudstream.detect.champion import ChampionSource
    from fraudstream.detect.detector import EnsembleDetector
    from fraudstream.settings import Settings

logger = logging.getLogger(__name__)


def champion_source(settings: Settings) -> ChampionSource:
    """The model registry's champion, through ``detect.registry.champion_source(settings)``.

    Without a registry module (or one without that function) nothing is promoted and
    the detector scores with rules only.
    """
    from fraudstream.detect.champion import StaticSource

    try:
        registry = importlib.import_module("fraudstream.detect.registry")
    except ImportError:
        logger.warning("no model registry module: rules-only scoring")
        return StaticSource(None)
    factory = getattr(registry, "champion_source", None)
    if factory is None:
        logger.warning("detect.registry has no champion_source(settings): rules-only scoring")
        return StaticSource(None)
    source: ChampionSource = factory(settings)
    return source


def load_detector(settings: Settings) -> EnsembleDetector:
    """The production detector for ``settings`` (see the module docstring).

    Raises:
        ConfigError: the rule set does not load or the thresholds are inconsistent.

    Example:
        >>> from fraudstream.settings import Settings
        >>> det = load_detector(Settings(model_dir="/nonexistent"))
        >>> "default@" in det.version
        True
    """
    from fraudstream.detect.champion import ChampionWatcher, StaticSource
    from fraudstream.detect.decision import AdaptiveThreshold, AlertBudget, DecisionPolicy
    from fraudstream.detect.detector import EnsembleDetector
    from fraudstream.detect.rules.loader import RuleSetLoader
    from fraudstream.errors import ConfigError
    from fraudstream.features.online import OnlineFeatures

    d = settings.detection
    rules = RuleSetLoader(d.rules_path, check_interval_s=d.rules_check_interval_s)
    source = champion_source(settings) if d.use_model else StaticSource(None)
    models = ChampionWatcher(source, check_interval_s=d.model_check_interval_s)
    try:
        adaptive = (
            AdaptiveThreshold(
                quantile=d.adaptive_quantile,
                window=d.adaptive_window,
                floor=d.adaptive_floor,
                ceiling=d.adaptive_ceiling,
                min_samples=d.adaptive_min_samples,
                initial=d.review_threshold,
            )
            if d.adaptive_threshold
            else None
        )
        budget = (
            AlertBudget(d.alert_budget, d.alert_budget_period_s * 1000)
            if d.alert_budget is not None
            else None
        )
        policy = DecisionPolicy(
            d.medium_threshold, d.review_threshold, d.block_threshold, adaptive, budget
        )
    except ValueError as exc:
        raise ConfigError(f"detection settings: {exc}") from exc
    features = OnlineFeatures(max_events=d.max_events_per_key, max_seen=d.max_seen_per_card)
    graph = None
    if d.graph:  # the live-graph GNN signal (docs/gnn.md); torch is imported only then
        from fraudstream.detect.gnn.serving import graph_signal_from_settings

        graph = graph_signal_from_settings(settings)
    detector = EnsembleDetector(
        rules,
        models,
        policy,
        features,
        extra_signal=graph,
        extra_weight=d.graph_weight if graph is not None else 0.0,
        explain_top_k=d.explain_top_k,
        explain_all=d.explain_all,
    )
    logger.info("detector ready: %s", detector.version)
    return detector


__all__ = ["champion_source", "load_detector"]
