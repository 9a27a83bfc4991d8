"""Guard settings: validation, effective profiles, relaxations and the settings file."""

from __future__ import annotations

import json
import logging
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from captureguard.core.policy import Profile, load_profiles
from captureguard.errors import ConfigError
from captureguard.web.settings import GuardSettings, InvalidSettingsError, SettingsStore, relaxations

PROFILES = load_profiles()
LANGUAGES = ("en", "ja")
STRICTEST = Profile(
    "strictest",
    block_score=0.1,
    warn_score=0.05,
    class_thresholds=dict.fromkeys(PROFILES["child"].class_thresholds, 0.1),
    warn_underwear=True,
    underwear_threshold=0.1,
)
LOOSE = Profile("loose", block_score=0.9, warn_score=0.8)


def parse(raw: dict[str, Any]) -> GuardSettings:
    return GuardSettings.from_dict(raw, profiles=PROFILES, languages=LANGUAGES)


def test_defaults_are_strictest() -> None:
    settings = GuardSettings()
    assert settings.profile == "child"
    assert (settings.placeholder, settings.record_on_block) == ("black", "placeholder")
    assert settings.profile_for(PROFILES) == PROFILES["child"]


def test_round_trip() -> None:
    settings = GuardSettings(
        profile="teen",
        block_score=0.4,
        warn_score=0.2,
        placeholder="blur",
        record_on_block="stop",
        language="ja",
        help_text={"ja": "先生に相談してください。"},
    )
    data = settings.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert parse(data) == settings


def test_partial_dict_takes_defaults_and_ints_become_floats() -> None:
    settings = parse({"profile": "adult", "block_score": 1, "warn_score": 0})
    assert settings == GuardSettings(profile="adult", block_score=1.0, warn_score=0.0)
    assert isinstance(settings.block_score, float)


def test_blank_help_text_is_dropped() -> None:
    assert parse({"help_text": {"en": "  \n", "ja": "x"}}).help_text == {"ja": "x"}


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"colour": "red"}, "unknown setting 'colour'"),
        ({"profile": "toddler"}, "unknown profile 'toddler'"),
        ({"profile": 3}, "unknown profile 3"),
        ({"block_score": 1.5}, "block_score must be in [0, 1]"),
        ({"block_score": -0.1}, "block_score must be in [0, 1]"),
        ({"warn_score": "0.3"}, "warn_score must be a number"),
        ({"warn_score": True}, "warn_score must be a number"),
        ({"block_score": float("nan")}, "block_score must be a number"),
        ({"block_score": float("inf")}, "block_score must be a number"),
        ({"block_score": 0.2, "warn_score": 0.3}, "must not exceed"),
        ({"block_score": 0.1}, "warn_score (0.31) must not exceed block_score (0.1)"),
        ({"profile": "adult", "warn_score": 0.97}, "warn_score (0.97) must not exceed block_score (0.95)"),
        ({"placeholder": "pixelate"}, "placeholder must be one of black, blur"),
        ({"record_on_block": "ignore"}, "record_on_block must be one of stop, pause, placeholder"),
        ({"language": "fr"}, "language must be one of auto, en, ja"),
        ({"help_text": "hi"}, "help_text must be an object"),
        ({"help_text": {"fr": "salut"}}, "unknown language 'fr'"),
        ({"help_text": {"en": 5}}, "help_text['en'] must be text"),
        ({"help_text": {"en": "x" * 2001}}, "2001 characters"),
    ],
    ids=[
        "unknown-key",
        "unknown-profile",
        "profile-not-str",
        "block-above-1",
        "block-negative",
        "warn-string",
        "warn-bool",
        "nan",
        "inf",
        "warn-above-block",
        "block-below-profile-warn",
        "warn-above-profile-block",
        "placeholder",
        "record",
        "language",
        "help-not-object",
        "help-unknown-language",
        "help-not-text",
        "help-too-long",
    ],
)
def test_invalid(raw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(raw)
    assert fragment in str(info.value)


def test_every_problem_listed_at_once() -> None:
    raw = {"x": 1, "profile": "nope", "block_score": 2, "placeholder": "p", "record_on_block": "r", "language": "l"}
    with pytest.raises(InvalidSettingsError) as info:
        parse(raw)
    assert len(info.value.problems) == 6


def test_not_a_mapping() -> None:
    with pytest.raises(ConfigError, match="JSON object"):
        GuardSettings.from_dict([], profiles=PROFILES, languages=LANGUAGES)  # type: ignore[arg-type]


def test_help_text_at_limit_is_fine() -> None:
    assert parse({"help_text": {"en": "x" * 2000}}).help_text["en"] == "x" * 2000


def test_profile_for_applies_overrides() -> None:
    effective = GuardSettings(profile="teen", block_score=0.6).profile_for(PROFILES)
    assert effective == replace(PROFILES["teen"], block_score=0.6)
    assert effective.class_thresholds == PROFILES["teen"].class_thresholds


def test_profile_for_unknown() -> None:
    with pytest.raises(ConfigError, match="unknown profile"):
        GuardSettings(profile="nope").profile_for(PROFILES)


CHILD = GuardSettings()
ALL_PROFILES = {**PROFILES, "strictest": STRICTEST, "loose": LOOSE}
NO_BREAST = Profile(
    "no_breast",
    block_score=PROFILES["child"].block_score,
    warn_score=PROFILES["child"].warn_score,
    class_thresholds={k: v for k, v in PROFILES["child"].class_thresholds.items() if k != "FEMALE_BREAST_EXPOSED"},
    region_support_score=PROFILES["child"].region_support_score,
    warn_underwear=True,
    underwear_threshold=0.4,
)
HIGH_UNDERWEAR = replace(PROFILES["child"], name="high_underwear", underwear_threshold=0.6)
NO_UNDERWEAR = replace(PROFILES["child"], name="no_underwear", warn_underwear=False)
EXTRA_CLASS = replace(
    PROFILES["child"], name="extra_class", class_thresholds={**PROFILES["child"].class_thresholds, "BELLY_EXPOSED": 0.9}
)
ALL_PROFILES.update({p.name: p for p in (NO_BREAST, HIGH_UNDERWEAR, NO_UNDERWEAR, EXTRA_CLASS)})


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (CHILD, CHILD, []),
        (CHILD, GuardSettings(profile="adult"), ["profile changed", "block_score raised", "underwear warning"]),
        (GuardSettings(profile="adult"), CHILD, []),
        (GuardSettings(profile="teen"), GuardSettings(profile="adult"), ["profile changed", "block_score"]),
        (CHILD, GuardSettings(block_score=0.4), []),
        (CHILD, GuardSettings(block_score=0.6), ["block_score raised from 0.5 to 0.6"]),
        (CHILD, GuardSettings(warn_score=0.4), ["warn_score raised from 0.31 to 0.4"]),
        (CHILD, GuardSettings(warn_score=0.1), []),
        (GuardSettings(profile="adult"), GuardSettings(profile="adult", block_score=0.98), ["block_score raised"]),
        (GuardSettings(block_score=0.6), GuardSettings(), []),
        (CHILD, GuardSettings(profile="strictest"), []),
        (CHILD, GuardSettings(profile="no_breast"), ["profile changed", "FEMALE_BREAST_EXPOSED no longer blocks"]),
        (CHILD, GuardSettings(profile="high_underwear"), ["profile changed", "underwear threshold raised"]),
        (CHILD, GuardSettings(profile="no_underwear"), ["profile changed", "underwear warning turned off"]),
        (GuardSettings(profile="no_underwear"), CHILD, []),
        (CHILD, GuardSettings(profile="extra_class"), []),
        (CHILD, GuardSettings(placeholder="blur"), ["hidden frames shown as blur"]),
        (GuardSettings(placeholder="blur"), CHILD, []),
        (GuardSettings(record_on_block="stop"), GuardSettings(record_on_block="pause"), ["recording on a block"]),
        (GuardSettings(record_on_block="pause"), GuardSettings(record_on_block="placeholder"), ["recording"]),
        (GuardSettings(record_on_block="stop"), GuardSettings(record_on_block="placeholder"), ["recording"]),
        (GuardSettings(record_on_block="placeholder"), GuardSettings(record_on_block="stop"), []),
        (GuardSettings(record_on_block="placeholder"), GuardSettings(record_on_block="pause"), []),
        (CHILD, GuardSettings(language="ja"), ["language changed from 'auto' to 'ja'"]),
        (CHILD, GuardSettings(help_text={"en": "Ask a teacher."}), ["help text for 'en' changed"]),
        (GuardSettings(help_text={"en": "Ask a teacher."}), CHILD, ["help text for 'en' changed"]),
        (
            GuardSettings(profile="adult", placeholder="blur", record_on_block="placeholder"),
            GuardSettings(profile="child", placeholder="black", record_on_block="stop"),
            [],
        ),
        (
            CHILD,
            GuardSettings(profile="loose", placeholder="blur", language="en"),
            ["profile changed", "block_score", "warn_score", "FEMALE", "hidden frames", "language"],
        ),
    ],
    ids=[
        "unchanged",
        "child-to-adult",
        "adult-to-child",
        "teen-to-adult",
        "lower-block",
        "raise-block",
        "raise-warn",
        "lower-warn",
        "adult-raise-block",
        "drop-raised-override",
        "to-stricter-custom",
        "class-removed",
        "underwear-threshold-up",
        "underwear-off",
        "underwear-on",
        "class-added",
        "blur",
        "black",
        "stop-to-pause",
        "pause-to-placeholder",
        "stop-to-placeholder",
        "placeholder-to-stop",
        "placeholder-to-pause",
        "language",
        "help-added",
        "help-removed",
        "all-tighter",
        "many",
    ],
)
def test_relaxations(old: GuardSettings, new: GuardSettings, expected: list[str]) -> None:
    lines = relaxations(old, new, profiles=ALL_PROFILES)
    if not expected:
        assert lines == []
    for fragment in expected:
        assert any(fragment in line for line in lines), (fragment, lines)


def test_relaxation_lines_are_one_per_change() -> None:
    lines = relaxations(CHILD, GuardSettings(profile="adult"), profiles=PROFILES)
    assert lines[0] == "profile changed from 'child' to 'adult'"
    assert len(lines) == 1 + 2 + 5 + 1  # profile, block+warn, five classes, underwear


def test_relaxation_of_unknown_profile_raises() -> None:
    with pytest.raises(ConfigError):
        relaxations(CHILD, GuardSettings(profile="gone"), profiles=PROFILES)


def store(path: Path, **kwargs: Any) -> SettingsStore:
    return SettingsStore(path, profiles=PROFILES, languages=LANGUAGES, **kwargs)


def test_store_missing_file_gives_default(tmp_path: Path) -> None:
    assert store(tmp_path / "settings.json").load() == GuardSettings()
    custom = GuardSettings(profile="teen")
    assert store(tmp_path / "settings.json", default=custom).load() == custom


def test_store_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "data" / "settings.json"
    settings = GuardSettings(profile="adult", placeholder="blur", help_text={"en": "Call us."})
    store(path).save(settings)
    assert store(path).load() == settings
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]


def test_store_refuses_invalid_settings(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    with pytest.raises(ConfigError):
        store(path).save(GuardSettings(profile="nope"))
    assert not path.exists()


@pytest.mark.parametrize(
    "content",
    ["{not json", "[]", '{"profile": "adult", "placeholder": "pixelate"}', '{"block_score": 7}', "\xff"],
    ids=["not-json", "list", "bad-enum", "bad-score", "bad-bytes"],
)
def test_store_corrupt_file_fails_closed(tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str) -> None:
    path = tmp_path / "settings.json"
    path.write_text(content, encoding="latin-1")
    with caplog.at_level(logging.ERROR, logger="captureguard.web.settings"):
        assert store(path).load() == GuardSettings()
    assert "unusable" in caplog.text


def test_store_default_without_child_profile_is_strictest(tmp_path: Path) -> None:
    profiles = {"loose": LOOSE, "strictest": STRICTEST}
    settings_store = SettingsStore(tmp_path / "settings.json", profiles=profiles, languages=LANGUAGES)
    assert settings_store.load().profile == "strictest"
