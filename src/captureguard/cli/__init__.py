"""The command line: ``captureguard COMMAND`` (parser and handlers per command group)."""

from captureguard.cli.main import main

__all__ = ["main"]
