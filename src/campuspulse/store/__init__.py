"""The SQL store shared by the collector and the server: schema, migrations, ingest and segment folding, audit chain."""
