"""Alembic environment: runs on the connection that :mod:`fraudstream.store.migrate` passes in.

There is no ``alembic.ini``: migrations are run programmatically
(``fraudstream db upgrade``), with the target connection in
``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from fraudstream.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Migrate over the caller's connection (SQLite needs batch mode for ALTERs)."""
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported; use an engine")
run_migrations_online()
