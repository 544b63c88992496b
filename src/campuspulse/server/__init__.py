"""The central server: inventory, calendars, the ledger and the figures computed from it."""
