"""`python -m bot` is the same as the `accessbot` console script."""

from bot.cli import main

raise SystemExit(main())
