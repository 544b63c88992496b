"""`python -m campuspulse` runs the CLI."""

from campuspulse.cli import main

main()
