"""HTTP API routers (thin: they call the inventory, store and metrics services)."""
