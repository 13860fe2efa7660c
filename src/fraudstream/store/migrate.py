"""Run the Alembic migrations shipped in the package, without an ``alembic.ini``.

Example:
    >>> from fraudstream.settings import DatabaseSettings
    >>> from fraudstream.store.db import make_engine
    >>> engine = make_engine(DatabaseSettings(url="sqlite://"))
    >>> upgrade(engine)
    >>> current_revision(engine) == head_revision()
    True
"""

from __future__ import annotations

import logging
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from fraudstream.store.db import store_errors

logger = logging.getLogger(__name__)


def alembic_config() -> Config:
    """An Alembic config pointing at ``fraudstream/store/migrations``."""
    cfg = Config()
    location = resources.files("fraudstream.store") / "migrations"
    cfg.set_main_option("script_location", str(location))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database of ``engine`` up to ``revision``."""
    cfg = alembic_config()
    with store_errors("migration"), engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    logger.info("database at revision %s", revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database of ``engine`` down to ``revision`` (``base`` drops everything)."""
    cfg = alembic_config()
    with store_errors("migration"), engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None before the first upgrade)."""
    with store_errors("revision lookup"), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped in the package."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
