"""`python -m campuspulse` runs the CLI."""

from campuspulse.cli import app

app()
