"""The Alembic migrations build exactly the schema the models describe (node and central)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, create_engine

from central.db import migrate as migrate_central
from central.models import CentralTable
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
