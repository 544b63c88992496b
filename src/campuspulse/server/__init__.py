"""The central server: inventory, calendars, standards, experiments and the figures computed from the store."""
