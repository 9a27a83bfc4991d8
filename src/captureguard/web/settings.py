"""Guard settings chosen on the settings page, their validation, storage and what relaxes them.

:class:`GuardSettings` is what an admin picks (a profile, optional score overrides, how a hidden
frame looks, what a recording does on a block, the language and help text).
:func:`relaxations` tells a tightening (no PIN needed) from anything else (PIN needed) by
comparing the *effective* profiles field by field. :class:`SettingsStore` keeps the settings in
``DATA/settings.json`` and falls back to the strictest default when the file is unusable.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from captureguard._atomic import write_atomic
from captureguard.core.policy import Profile
from captureguard.errors import ConfigError
from captureguard.guard.placeholder import Placeholder

logger = logging.getLogger(__name__)

RecordOnBlock = Literal["stop", "pause", "placeholder"]
"""What a recording does at a block, strictest first: end it, skip withheld frames, or record
placeholders in their place."""

#: How a hidden frame looks in the viewfinder and in recordings.
PLACEHOLDERS: tuple[str, ...] = get_args(Placeholder)
#: What a recording does on a block, strictest first.
RECORD_MODES: tuple[str, ...] = get_args(RecordOnBlock)
#: Longest replacement help paragraph, in characters.
MAX_HELP_CHARS = 2000

_FIELDS = ("profile", "block_score", "warn_score", "placeholder", "record_on_block", "language", "help_text")


class InvalidSettingsError(ConfigError):
    """Settings failed validation; ``problems`` lists every problem, one plain sentence each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings: " + "; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class GuardSettings:
    """What the admin chose on the settings page.

    Attributes:
        profile: name of the policy profile (``child``, ``teen``, ``adult``...).
        block_score: fused-score block threshold in ``[0, 1]``; ``None`` keeps the profile's own.
        warn_score: fused-score warn threshold in ``[0, 1]``; ``None`` keeps the profile's own.
        placeholder: how a hidden frame looks: ``black`` or ``blur``.
        record_on_block: ``placeholder`` (keep recording, hidden frames replaced), ``pause``
            (skip hidden frames) or ``stop`` (end the recording).
        language: ``auto`` (the browser's Accept-Language) or a language of ``messages.toml``.
        help_text: language -> replacement for the help paragraph (at most 2000 characters).
    """

    profile: str = "child"
    block_score: float | None = None
    warn_score: float | None = None
    placeholder: Placeholder = "black"
    record_on_block: RecordOnBlock = "placeholder"
    language: str = "auto"
    help_text: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (every field, ``help_text`` as a plain dict)."""
        return {
            "profile": self.profile,
            "block_score": self.block_score,
            "warn_score": self.warn_score,
            "placeholder": self.placeholder,
            "record_on_block": self.record_on_block,
            "language": self.language,
            "help_text": dict(self.help_text),
        }

    @classmethod
    def from_dict(
        cls, raw: Mapping[str, Any], *, profiles: Mapping[str, Profile], languages: Collection[str]
    ) -> GuardSettings:
        """Validate a settings mapping (missing keys take their defaults).

        Help texts that are empty or whitespace only are dropped (the shipped text is used).

        Raises:
            InvalidSettingsError: a :class:`ConfigError` listing every problem at once: unknown
                keys, unknown profile, scores outside ``[0, 1]`` or not numbers, an effective
                warn score above the block score, bad placeholder/record/language values, help
                text that is not a string, longer than 2000 characters or for an unknown language.
        """
        if not isinstance(raw, Mapping):
            raise InvalidSettingsError([f"settings must be a JSON object, got {type(raw).__name__}"])
        problems = [f"unknown setting {key!r}; allowed: {', '.join(_FIELDS)}" for key in raw if key not in _FIELDS]
        values = {key: raw[key] for key in _FIELDS if key in raw}
        problems += _check_choices(values, profiles=profiles, languages=languages)
        for key in ("block_score", "warn_score"):
            problems += _check_score(key, values.get(key))
        help_text, help_problems = _check_help(values.get("help_text", {}), languages)
        problems += help_problems
        if not problems:
            problems += _check_order(values, profiles)
        if problems:
            raise InvalidSettingsError(problems)
        for key in ("block_score", "warn_score"):
            if values.get(key) is not None:
                values[key] = float(values[key])
        values["help_text"] = help_text
        return cls(**values)

    def profile_for(self, profiles: Mapping[str, Profile]) -> Profile:
        """The effective profile: ``profiles[self.profile]`` with the score overrides applied.

        Raises:
            ConfigError: the profile is unknown, or the overrides make warn exceed block.
        """
        try:
            base = profiles[self.profile]
        except KeyError:
            raise ConfigError(
                f"unknown profile {self.profile!r}; known profiles: {', '.join(sorted(profiles))}"
            ) from None
        if self.block_score is None and self.warn_score is None:
            return base
        return dataclasses.replace(
            base,
            block_score=base.block_score if self.block_score is None else self.block_score,
            warn_score=base.warn_score if self.warn_score is None else self.warn_score,
        )


def _check_choices(
    values: Mapping[str, Any], *, profiles: Mapping[str, Profile], languages: Collection[str]
) -> list[str]:
    problems = []
    if "profile" in values and (not isinstance(values["profile"], str) or values["profile"] not in profiles):
        problems.append(f"unknown profile {values['profile']!r}; choose one of {', '.join(sorted(profiles))}")
    choices = {
        "placeholder": PLACEHOLDERS,
        "record_on_block": RECORD_MODES,
        "language": ("auto", *sorted(languages)),
    }
    for key, allowed in choices.items():
        if key in values and (not isinstance(values[key], str) or values[key] not in allowed):
            problems.append(f"{key} must be one of {', '.join(allowed)}, got {values[key]!r}")
    return problems


def _check_score(key: str, value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return [f"{key} must be a number in [0, 1] or null, got {value!r}"]
    if not 0.0 <= value <= 1.0:
        return [f"{key} must be in [0, 1], got {value!r}"]
    return []


def _check_help(raw: object, languages: Collection[str]) -> tuple[dict[str, str], list[str]]:
    if not isinstance(raw, Mapping):
        return {}, [f"help_text must be an object of language -> text, got {type(raw).__name__}"]
    out, problems = {}, []
    for lang, text in raw.items():
        if not isinstance(lang, str) or lang not in languages:
            problems.append(f"help_text has unknown language {lang!r}; known: {', '.join(sorted(languages))}")
        elif not isinstance(text, str):
            problems.append(f"help_text[{lang!r}] must be text, got {type(text).__name__}")
        elif len(text) > MAX_HELP_CHARS:
            problems.append(f"help_text[{lang!r}] has {len(text)} characters; at most {MAX_HELP_CHARS} allowed")
        elif text.strip():
            out[lang] = text
    return out, problems


def _check_order(values: Mapping[str, Any], profiles: Mapping[str, Profile]) -> list[str]:
    base = profiles[values.get("profile", GuardSettings.profile)]
    block = values.get("block_score")
    warn = values.get("warn_score")
    block = base.block_score if block is None else block
    warn = base.warn_score if warn is None else warn
    if warn > block:
        return [f"warn_score ({warn}) must not exceed block_score ({block}) of profile {base.name!r}"]
    return []


def relaxations(old: GuardSettings, new: GuardSettings, *, profiles: Mapping[str, Profile]) -> list[str]:
    """List every change from ``old`` to ``new`` that is not a tightening.

    Effective profiles are compared field by field: a higher block/warn score, a higher class
    threshold or a class that no longer blocks alone, the underwear warning turned off or its
    threshold raised are all looser. ``black`` -> ``blur`` is looser; record modes are ordered
    ``stop`` < ``pause`` < ``placeholder`` (moving right is looser). Any language or help-text
    change is listed (admin only).

    Returns:
        One plain-English line per such change; ``[]`` when every change tightens (or nothing
        changed), so no PIN is needed.

    Raises:
        ConfigError: a profile named by ``old`` or ``new`` is unknown.
    """
    lines = _profile_relaxations(old.profile_for(profiles), new.profile_for(profiles))
    if new.placeholder not in (old.placeholder, "black"):
        lines.append(f"hidden frames shown as {new.placeholder} instead of {old.placeholder}")
    if _rank(RECORD_MODES, new.record_on_block) > _rank(RECORD_MODES, old.record_on_block):
        lines.append(f"recording on a block changed from {old.record_on_block!r} to {new.record_on_block!r}")
    if new.language != old.language:
        lines.append(f"language changed from {old.language!r} to {new.language!r}")
    for lang in sorted(set(old.help_text) | set(new.help_text)):
        if old.help_text.get(lang) != new.help_text.get(lang):
            lines.append(f"help text for {lang!r} changed")
    return lines


def strictest_settings(profiles: Mapping[str, Profile], *, current: GuardSettings) -> GuardSettings:
    """The strictest settings these profiles allow: a profile no other one tightens, a black
    placeholder and recordings that stop at a block; ``current``'s language and help text.

    Used when the admin PIN file is corrupt: nobody can prove to be the admin, so nothing stays
    looser than it has to be.
    """

    def candidate(name: str) -> GuardSettings:
        return GuardSettings(
            profile=name,
            placeholder="black",
            record_on_block="stop",
            language=current.language,
            help_text=current.help_text,
        )

    names = sorted(profiles)
    for name in [current.profile, *names]:
        if name in profiles and all(not relaxations(candidate(o), candidate(name), profiles=profiles) for o in names):
            return candidate(name)
    return candidate(min(names, key=lambda n: (profiles[n].block_score, profiles[n].warn_score)))


def _rank(order: tuple[str, ...], value: str) -> int:
    return order.index(value) if value in order else len(order)


def _profile_relaxations(old: Profile, new: Profile) -> list[str]:
    lines = []
    for key, what in (("block_score", "blocks"), ("warn_score", "warns")):
        before, after = getattr(old, key), getattr(new, key)
        if after > before:
            lines.append(f"{key} raised from {before:g} to {after:g} (it {what} less)")
    for label in sorted(old.class_thresholds):
        before, after = old.class_thresholds[label], new.class_thresholds.get(label)
        if after is None:
            lines.append(f"{label} no longer blocks on its own (was blocked at {before:g})")
        elif after > before:
            lines.append(f"{label} threshold raised from {before:g} to {after:g}")
    if old.warn_underwear and not new.warn_underwear:
        lines.append("underwear warning turned off")
    elif old.warn_underwear and new.underwear_threshold > old.underwear_threshold:
        lines.append(f"underwear threshold raised from {old.underwear_threshold:g} to {new.underwear_threshold:g}")
    if not lines and not new.is_stricter_or_equal(old):
        lines.append(f"profile {new.name!r} is less strict than {old.name!r}")
    if lines and new.name != old.name:
        lines.insert(0, f"profile changed from {old.name!r} to {new.name!r}")
    return lines


def strictest_default(profiles: Mapping[str, Profile]) -> GuardSettings:
    """Default settings: the ``child`` profile, or the strictest profile when there is none."""
    if "child" in profiles or not profiles:
        return GuardSettings()
    name = min(profiles, key=lambda n: (profiles[n].strictness_key(), n))
    return GuardSettings(profile=name)


def write_json_atomic(path: Path, data: object, *, mode: int = 0o600) -> None:
    """Write ``data`` as JSON to ``path``: temp file beside it, fsync, ``os.replace``.

    Raises:
        ConfigError: the file cannot be written.
    """
    text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    try:
        write_atomic(path, text.encode("utf-8"), mode=mode)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc


class SettingsStore:
    """Settings kept in a JSON file (``DATA/settings.json``).

    Args:
        path: the JSON file (created on the first :meth:`save`).
        profiles: the known profiles.
        languages: the languages of ``messages.toml``.
        default: used when the file is missing or unusable (default: the strictest, ``child``).
    """

    def __init__(
        self,
        path: Path,
        *,
        profiles: Mapping[str, Profile],
        languages: Collection[str],
        default: GuardSettings | None = None,
    ) -> None:
        self.path = Path(path)
        self.profiles = profiles
        self.languages = tuple(languages)
        self.default = default if default is not None else strictest_default(profiles)

    def load(self) -> GuardSettings:
        """Read the settings; the default when the file is missing.

        A corrupt or invalid file is logged as an error and the default (strictest) settings are
        returned: the server keeps running, failing closed.
        """
        try:
            raw = json.loads(self.path.read_text("utf-8"))
            return GuardSettings.from_dict(raw, profiles=self.profiles, languages=self.languages)
        except FileNotFoundError:
            return self.default
        except (OSError, UnicodeDecodeError, ValueError, ConfigError) as exc:
            logger.error(
                "settings file %s is unusable (%s); using the default %r settings", self.path, exc, self.default.profile
            )
            return self.default

    def save(self, settings: GuardSettings) -> None:
        """Validate ``settings`` and write them atomically (mode 0o600).

        Raises:
            ConfigError: the settings are invalid or the file cannot be written.
        """
        checked = GuardSettings.from_dict(settings.to_dict(), profiles=self.profiles, languages=self.languages)
        write_json_atomic(self.path, checked.to_dict())
