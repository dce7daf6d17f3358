"""`python -m audiolla_mcp` = the `audiolla-mcp` command."""

from .cli import main

raise SystemExit(main())
