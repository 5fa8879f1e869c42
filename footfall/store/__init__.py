"""Storage: schema and migrations, dialect specifics, the ingest transaction, and reads."""
