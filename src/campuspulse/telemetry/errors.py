"""Errors raised when something breaks the wire contract."""


class ContractError(ValueError):
    """A payload, topic or value that breaks the wire contract; the message says where and what was expected."""
