"""Errors the server's services raise; the app answers them as 404 and 409."""


class NotFound(LookupError):
    """The request names something the store does not hold."""


class Conflict(ValueError):
    """A write that contradicts the store (e.g. a device bound to an agent of another school)."""
