"""Alembic environment for the node database (run synchronously at start-up by `node.db.migrate`)."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from node.schema import NODE_METADATA

config = context.config
target_metadata = NODE_METADATA


def run_migrations_online() -> None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
