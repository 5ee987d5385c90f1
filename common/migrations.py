"""Schema migrations at start-up, skipped when the database is already at the newest revision.

`alembic upgrade head` loads the migration environment and every revision script before it can tell there is
nothing to do; a node restarting (or a test building a node from a migrated template) would pay that each time.
The newest revision of a script folder is read once per process; the database's own is one query."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool


def alembic_config(script_location: Path, sync_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", sync_url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


@functools.cache
def newest_revisions(script_location: Path) -> frozenset[str]:
    """The head revision(s) of a migration folder (read once per process)."""
    return frozenset(ScriptDirectory.from_config(alembic_config(script_location, "")).get_heads())


def stored_revisions(sync_url: str) -> frozenset[str]:
    """The revision(s) the database says it is at; empty for a new or unreadable database."""
    engine = create_engine(sync_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return frozenset(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError:
        return frozenset()
    finally:
        engine.dispose()


def upgrade_to_newest(script_location: Path, sync_url: str) -> bool:
    """Migrate the database to the newest revision; False (and nothing run) when it is there already."""
    if stored_revisions(sync_url) == newest_revisions(script_location):
        return False
    command.upgrade(alembic_config(script_location, sync_url), "head")
    return True
