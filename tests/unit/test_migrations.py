"""The Alembic migrations build exactly the schema the models describe (node and central)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, create_engine

from central.db import migrate as migrate_central
from central.models import CentralTable
from common.migrations import alembic_config, newest_revisions, stored_revisions, upgrade_to_newest
from node.db import migrate as migrate_node
from node.models import NodeTable


@pytest.mark.parametrize("which", ["node", "central"])
def test_migrations_match_the_models(tmp_path: Path, which: str) -> None:
    db = tmp_path / f"{which}.db"
    metadata: MetaData
    if which == "node":
        migrate_node(db)
        metadata = NodeTable.metadata
    else:
        migrate_central(f"sqlite:///{db}")
        metadata = CentralTable.metadata
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


def test_start_up_migrates_only_when_behind(tmp_path: Path) -> None:
    """A database at the newest revision is left alone; one behind (a restored backup) is brought forward."""
    scripts = Path(migrate_node.__code__.co_filename).parent / "migrations"
    url = f"sqlite:///{tmp_path / 'node.db'}"
    assert stored_revisions(url) == frozenset()
    assert upgrade_to_newest(scripts, url) is True
    assert stored_revisions(url) == newest_revisions(scripts) != frozenset()
    assert upgrade_to_newest(scripts, url) is False  # at the newest: nothing run

    command.downgrade(alembic_config(scripts, url), "-1")
    assert stored_revisions(url) != newest_revisions(scripts)
    assert upgrade_to_newest(scripts, url) is True
    assert stored_revisions(url) == newest_revisions(scripts)
