"""The inventory: schools, agents, devices and calendars."""
