"""The package version (one definition: the face, the CLI, reports and the web app all read it here)."""

__version__ = "0.1.0"
