"""`python -m har_inventory` is the same as the `har-inventory` console script."""

from har_inventory.cli import main

raise SystemExit(main())
