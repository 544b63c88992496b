"""Authentication and role-scoped authorisation."""
