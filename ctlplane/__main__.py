"""``python -m ctlplane`` runs the CLI."""

from ctlplane.cli import main

main()
