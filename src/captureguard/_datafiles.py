"""Configuration files as data: a user's file, or the one shipped in ``captureguard/data``."""

from __future__ import annotations

import importlib.resources
import tomllib
from pathlib import Path
from typing import Any

from captureguard.errors import ConfigError


def load_toml(path: str | Path | None, shipped: str, what: str) -> tuple[dict[str, Any], str]:
    """Parse ``path``, or the shipped ``data/<shipped>`` when ``path`` is None.

    Returns:
        The TOML document and where it came from (for error messages).

    Raises:
        ConfigError: the file cannot be read (``cannot read <what> file ...``) or is not TOML.
    """
    if path is None:
        text = importlib.resources.files("captureguard").joinpath(f"data/{shipped}").read_text("utf-8")
        origin = f"shipped {shipped}"
    else:
        try:
            text = Path(path).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise ConfigError(f"cannot read {what} file {path}: {reason}") from exc
        origin = str(path)
    try:
        return tomllib.loads(text), origin
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin} is not valid TOML: {exc}") from exc
