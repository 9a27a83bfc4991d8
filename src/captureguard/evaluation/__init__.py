"""Pure core of ``captureguard eval``: the manifest and the metrics (numpy + stdlib only)."""
