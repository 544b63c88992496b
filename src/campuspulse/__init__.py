"""campuspulse: measure equipment usage, compliance and experiment offering from the equipment itself."""

__version__ = "0.1.0"
