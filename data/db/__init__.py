"""The database: the embedded cluster, connections, schema migrations, the ORM models, backups."""
