"""The relational ledger: schema, migrations, and the state-segment store (SQLite or PostgreSQL)."""
