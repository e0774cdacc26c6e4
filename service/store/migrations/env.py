"""Alembic environment: migrations always run on a connection handed over by ``Store.upgrade``,
which holds the lock that keeps two starting processes from migrating at once."""

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `decisions db upgrade` (Store.upgrade), not alembic")

context.configure(connection=connection, target_metadata=None, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
