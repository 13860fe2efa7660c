"""On-disk model registry: versioned artifacts, metadata, promotion and rollback.

Layout under ``root``::

    v0001/model.joblib      the scorer (joblib)
    v0001/metadata.json     version, stage, feature contract version, training data
                            fingerprint, metrics, created_at (UTC), feature_names, ...
    CHAMPION                the champion's version name (one line)
    HISTORY                 earlier champions, one per line (for rollback)

Every file is written to a temporary name and renamed, so a scorer polling
``champion_version()`` (one small file read) never sees a half-written model.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudstream.detect.models.common import load_model, save_model
from fraudstream.errors import ConfigError, ConflictError, NotFoundError

if TYPE_CHECKING:
    from fraudstream.settings import Settings

log = logging.getLogger(__name__)

STAGES = ("candidate", "champion", "archived")
_VERSION = re.compile(r"^v(\d{4,})$")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


class ModelRegistry:
    """Versioned model store on a local directory.

    Example:
        >>> import tempfile
        >>> from fraudstream.detect.models.online import OnlineLogisticModel
        >>> reg = ModelRegistry(Path(tempfile.mkdtemp()))
        >>> v = reg.register(OnlineLogisticModel(("a",)), {"metrics": {"roc_auc": 0.9}})
        >>> reg.promote(v); reg.champion_version()
        'v0001'
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _dir(self, version: str) -> Path:
        if not _VERSION.match(version):
            raise NotFoundError(f"no model version {version!r} (expected e.g. v0001)")
        return self.root / version

    def versions(self) -> builtins.list[str]:
        """All registered versions, oldest first."""
        if not self.root.is_dir():
            return []
        found = [
            p.name
            for p in self.root.iterdir()
            if _VERSION.match(p.name) and (p / "metadata.json").is_file()
        ]
        return sorted(found, key=lambda v: int(v[1:]))

    def register(self, model: Any, metadata: dict[str, Any]) -> str:
        """Store ``model`` as a new candidate version and return its name."""
        self.root.mkdir(parents=True, exist_ok=True)
        existing = [int(p.name[1:]) for p in self.root.iterdir() if _VERSION.match(p.name)]
        number = max(existing, default=0) + 1
        while True:
            version = f"v{number:04d}"
            try:
                (self.root / version).mkdir()
                break
            except FileExistsError:  # another trainer took it; take the next one
                number += 1
        meta = dict(metadata)
        meta.update(
            version=version,
            stage="candidate",
            model_class=type(model).__name__,
            model_version=getattr(model, "version", None),
            feature_names=list(getattr(model, "feature_names", ())),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        meta.setdefault("feature_contract_version", None)
        meta.setdefault("training_data_fingerprint", None)
        meta.setdefault("metrics", {})
        save_model(model, self.root / version / "model.joblib")
        self._write_meta(version, meta)
        log.info("registered %s (%s)", version, meta["model_class"])
        return version

    def _write_meta(self, version: str, meta: dict[str, Any]) -> None:
        _atomic_write(
            self._dir(version) / "metadata.json",
            json.dumps(meta, indent=2, sort_keys=True, default=str),
        )

    def metadata(self, version: str) -> dict[str, Any]:
        """The metadata of ``version``."""
        path = self._dir(version) / "metadata.json"
        if not path.is_file():
            raise NotFoundError(f"no model version {version!r} in {self.root}")
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def list(self) -> builtins.list[dict[str, Any]]:
        """Metadata of every version, oldest first."""
        return [self.metadata(v) for v in self.versions()]

    def champion_version(self) -> str | None:
        """The promoted version (one small file read: cheap enough to poll)."""
        try:
            text = (self.root / "CHAMPION").read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return text or None

    def _history(self) -> builtins.list[str]:
        try:
            text = (self.root / "HISTORY").read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [line for line in text.split() if line]

    def _set_stage(self, version: str, stage: str) -> None:
        meta = self.metadata(version)
        meta["stage"] = stage
        meta[f"{stage}_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        self._write_meta(version, meta)

    def promote(self, version: str) -> None:
        """Make ``version`` the champion; the previous one is archived (rollback target)."""
        self.metadata(version)  # raises NotFoundError for unknown versions
        current = self.champion_version()
        if current == version:
            return
        if current is not None:
            _atomic_write(self.root / "HISTORY", "\n".join([*self._history(), current]) + "\n")
            self._set_stage(current, "archived")
        self._set_stage(version, "champion")
        _atomic_write(self.root / "CHAMPION", version + "\n")
        log.info("promoted %s (was %s)", version, current)

    def rollback(self) -> str:
        """Restore the previous champion; the current one is archived. Returns the new one."""
        history = self._history()
        current = self.champion_version()
        if not history:
            raise ConflictError("no earlier champion to roll back to")
        previous = history.pop()
        if current is not None:
            self._set_stage(current, "archived")
        self._set_stage(previous, "champion")
        _atomic_write(self.root / "CHAMPION", previous + "\n")
        _atomic_write(self.root / "HISTORY", "".join(f"{v}\n" for v in history))
        log.info("rolled back %s -> %s", current, previous)
        return previous

    def load(self, version: str) -> Any:
        """The model object of ``version``."""
        path = self._dir(version) / "model.joblib"
        if not path.is_file():
            raise NotFoundError(f"no model version {version!r} in {self.root}")
        return load_model(path, object)

    def champion(self) -> tuple[str, Any]:
        """``(version, model)`` of the champion."""
        version = self.champion_version()
        if version is None:
            raise NotFoundError(
                f"no champion model in {self.root}; run `fraudstream models promote`"
            )
        return version, self.load(version)

    def load_champion(self, version: str) -> Any:
        """``ChampionSource.load_champion``: a model that can serve in the stream.

        Refuses models trained on another feature set than the current feature
        contract (models of the real datasets carry their own feature names).
        """
        from fraudstream.features.contract import FEATURE_CONTRACT_VERSION

        meta = self.metadata(version)
        if meta.get("feature_contract_version") != FEATURE_CONTRACT_VERSION:
            raise ConfigError(
                f"model {version} was trained on feature set "
                f"{meta.get('feature_contract_version')!r}, the stream serves "
                f"{FEATURE_CONTRACT_VERSION!r}; train it with --dataset synthetic"
            )
        return self.load(version)


def champion_source(settings: Settings) -> ModelRegistry:
    """The registry at ``settings.model_dir`` as the detector's ``ChampionSource``."""
    return ModelRegistry(settings.model_dir)
