"""What captureguard says to people when it holds something back, in their language.

Texts live in ``captureguard/data/messages.toml`` (``[en]``, ``[ja]``; an integrator may ship
their own file). :func:`load_messages` checks every language has exactly the expected keys;
:func:`choose_language` picks one from the setting or the browser's ``Accept-Language``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from captureguard._datafiles import load_toml
from captureguard.errors import ConfigError

#: Notice kinds and the keys their title and body come from.
NOTICE_KINDS: tuple[str, ...] = ("blocked", "viewfinder", "warn", "error")
FALLBACK_LANGUAGE = "en"


@dataclass(frozen=True)
class Messages:
    """Every text of one language (the keys of one ``[lang]`` table of ``messages.toml``).

    Attributes:
        lang: language code (``en``, ``ja``).
        name: the language's own name, for the settings page.
        blocked_title, blocked_body: a photo or the live view was held back.
        viewfinder_title, viewfinder_body: the live view is paused.
        warn_title, warn_body, warn_confirm: an underwear-level photo the person may still save.
        error_title, error_body: the check could not run, so nothing was kept.
        law: the legal note shown with every block and warning.
        help: where to get help, shown with every notice.
    """

    lang: str
    name: str
    blocked_title: str
    blocked_body: str
    viewfinder_title: str
    viewfinder_body: str
    warn_title: str
    warn_body: str
    warn_confirm: str
    error_title: str
    error_body: str
    law: str
    help: str

    def notice(self, kind: str, *, help_override: str | None = None) -> dict[str, str]:
        """The texts of one notice.

        Args:
            kind: ``blocked``, ``viewfinder``, ``warn`` or ``error``.
            help_override: the admin's replacement help paragraph (blank: the shipped one).

        Returns:
            ``{"title", "body", "law", "help"}`` (plus ``"confirm"`` for ``warn``); ``error``
            has ``{"title", "body", "help"}``.

        Raises:
            ValueError: unknown ``kind``.
        """
        if kind not in NOTICE_KINDS:
            raise ValueError(f"unknown notice kind {kind!r}; expected one of {', '.join(NOTICE_KINDS)}")
        out = {"title": getattr(self, f"{kind}_title"), "body": getattr(self, f"{kind}_body")}
        if kind != "error":
            out["law"] = self.law
        out["help"] = help_override if help_override and help_override.strip() else self.help
        if kind == "warn":
            out["confirm"] = self.warn_confirm
        return out


#: The keys every language table must have.
KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Messages) if f.name != "lang")


def _messages(lang: str, table: Any, origin: str) -> Messages:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{origin}: [{lang}] must be a table of texts, got {type(table).__name__}")
    problems = []
    missing = [k for k in KEYS if k not in table]
    extra = sorted(k for k in table if k not in KEYS)
    not_text = sorted(k for k in KEYS if k in table and (not isinstance(table[k], str) or not table[k].strip()))
    if missing:
        problems.append(f"missing keys {missing}")
    if extra:
        problems.append(f"unknown keys {extra}")
    if not_text:
        problems.append(f"keys that are not non-empty strings {not_text}")
    if problems:
        raise ConfigError(f"{origin}: language [{lang}] has " + "; ".join(problems) + f"; expected keys: {list(KEYS)}")
    return Messages(lang=lang, **{k: table[k] for k in KEYS})


def load_messages(path: str | Path | None = None) -> dict[str, Messages]:
    """Load and check the messages file (default: the shipped ``messages.toml``).

    Returns:
        Language code -> :class:`Messages`; always includes ``en``.

    Raises:
        ConfigError: the file cannot be read or is not TOML; a language has missing, unknown or
            non-string keys (the message names the language and the keys); ``en`` is missing.
    """
    data, origin = load_toml(path, "messages.toml", "messages")
    out = {lang: _messages(lang, table, origin) for lang, table in data.items()}
    if FALLBACK_LANGUAGE not in out:
        raise ConfigError(
            f"{origin}: needs an [{FALLBACK_LANGUAGE}] table (the fallback language); found {sorted(out)}"
        )
    return out


def _accepted(accept_language: str) -> list[tuple[float, int, str]]:
    """``(-q, position, tag)`` for each acceptable range of an Accept-Language header."""
    ranges = []
    for position, part in enumerate(accept_language.split(",")[:50]):
        tag, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag and 0.0 < q <= 1.0:
            ranges.append((-q, position, tag.lower()))
    return sorted(ranges)


def choose_language(setting: str, accept_language: str | None, available: Collection[str]) -> str:
    """Pick the language to show.

    A setting other than ``auto`` wins when available; otherwise the browser's
    ``Accept-Language`` is read by q-value (``"ja-JP,ja;q=0.9,en;q=0.8"`` -> ``ja``), matching
    the primary subtag; otherwise ``en``.
    """
    if setting != "auto" and setting in available:
        return setting
    by_lower = {lang.lower(): lang for lang in available}
    for _, _, tag in _accepted(accept_language or ""):
        for candidate in (tag, tag.split("-")[0]):
            if candidate in by_lower:
                return by_lower[candidate]
    return FALLBACK_LANGUAGE
