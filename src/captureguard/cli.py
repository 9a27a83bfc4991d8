"""Command line (stub, filled in below)."""


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    return 0
