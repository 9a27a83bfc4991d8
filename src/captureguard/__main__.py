"""``python -m captureguard``."""

from captureguard.cli.main import main

raise SystemExit(main())
