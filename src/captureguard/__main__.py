"""``python -m captureguard``."""

from captureguard.cli import main

raise SystemExit(main())
