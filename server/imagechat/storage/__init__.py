"""The database: schema, reads and changes, engine set-up and Alembic migrations."""
