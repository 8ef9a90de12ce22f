"""Alembic environment: runs against the URL that ``data.db.migrate`` passes in."""

from alembic import context
from sqlalchemy import create_engine, pool

from data.db.models import Base

config = context.config
target_metadata = Base.metadata


def include_object(obj, name, type_, reflected, compare_to):  # noqa: ANN001
    # PostGIS and pgRouting own their tables (spatial_ref_sys, topology...): never touch them.
    return not (type_ == "table" and reflected and compare_to is None)


def run_migrations_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          include_object=include_object, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
