"""HTTP API routers (thin: they call the inventory, ledger and metrics services)."""
