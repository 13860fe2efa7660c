"""Load rule sets from YAML and hot-reload them without a restart.

:class:`RuleSetLoader` checks the file's modification time at most every
``check_interval_s`` seconds (on the scoring thread, at a batch boundary, so a
batch is always scored by one rule set). A new file that does not parse or
validate is logged and counted, and the previous rule set stays in force.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import yaml

from fraudstream.detect.rules.engine import RuleSet
from fraudstream.errors import ConfigError
from fraudstream.observe.metrics import RULESET_RELOADS

logger = logging.getLogger(__name__)


def default_rules_path() -> Path:
    """The rule set shipped in the package (``detect/rules/default.yaml``)."""
    return Path(str(resources.files("fraudstream.detect.rules") / "default.yaml"))


def load_ruleset(path: Path) -> RuleSet:
    """Parse and compile one rule-set file.

    Raises:
        ConfigError: the file is missing, is not YAML, or is not a valid rule set.

    Example:
        >>> rs = load_ruleset(default_rules_path())
        >>> rs.id, "amount_ge_900" in [r.id for r in rs.rules]
        ('default', True)
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read rule set {path}: {exc}") from exc
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"rule set {path} is not valid YAML: {exc}") from exc
    try:
        return RuleSet.from_dict(doc)
    except ConfigError as exc:
        raise ConfigError(f"rule set {path}: {exc.message}") from exc


class RuleSetLoader:
    """Holds the current rule set of a file and reloads it when the file changes.

    Args:
        path: the YAML file (None: the packaged default).
        check_interval_s: the least time between two ``stat`` calls.
        clock: monotonic seconds (injected by tests).

    Example:
        >>> loader = RuleSetLoader(check_interval_s=5.0)
        >>> loader.current().label.startswith("default@")
        True
    """

    def __init__(
        self,
        path: Path | None = None,
        check_interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path) if path is not None else default_rules_path()
        self.check_interval_s = check_interval_s
        self._clock = clock
        self._mtime = self._stat()
        self._ruleset = load_ruleset(self.path)  # a broken file at start-up is fatal
        self._checked_at = clock()
        self.last_error: str | None = None
        logger.info("rule set %s loaded from %s", self._ruleset.label, self.path)

    def _stat(self) -> int:
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return -1

    def current(self) -> RuleSet:
        """The rule set in force, reloading first if the file changed (rate-limited)."""
        now = self._clock()
        if now - self._checked_at >= self.check_interval_s:
            self._checked_at = now
            mtime = self._stat()
            if mtime != self._mtime:
                self._mtime = mtime
                self._reload()
        return self._ruleset

    def _reload(self) -> None:
        try:
            new = load_ruleset(self.path)
        except ConfigError as exc:
            self.last_error = exc.message
            RULESET_RELOADS.labels(outcome="error").inc()
            logger.error("keeping rule set %s: %s", self._ruleset.label, exc.message)
            return
        old = self._ruleset.label
        self._ruleset = new
        self.last_error = None
        RULESET_RELOADS.labels(outcome="ok").inc()
        logger.info("rule set reloaded: %s -> %s", old, new.label)
