"""`python -m har_inventory.sandbox [options]`: run the sandbox server (see `server`)."""

from .server import cli

raise SystemExit(cli())
