"""Localized notices: the shipped file, file validation, notice shapes and language choice."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from captureguard.errors import ConfigError
from captureguard.web.messages import KEYS, Messages, choose_language, load_messages

SHIPPED = load_messages()


def toml_for(tables: dict[str, dict[str, object]]) -> str:
    lines = []
    for lang, table in tables.items():
        lines.append(f"[{lang}]")
        for key, value in table.items():
            lines.append(f"{key} = {value!r}".replace("'", '"') if isinstance(value, str) else f"{key} = {value}")
    return "\n".join(lines) + "\n"


def full(lang: str) -> dict[str, object]:
    return {key: f"{lang} {key}" for key in KEYS}


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_shipped_languages_complete(lang: str) -> None:
    messages = SHIPPED[lang]
    assert messages.lang == lang
    for f in dataclasses.fields(Messages):
        assert getattr(messages, f.name).strip(), f.name


def test_shipped_has_exactly_en_and_ja() -> None:
    assert sorted(SHIPPED) == ["en", "ja"]
    assert SHIPPED["ja"].name == "日本語"
    assert "StopNCII" in SHIPPED["en"].help


@pytest.mark.parametrize(
    ("kind", "keys"),
    [
        ("blocked", {"title", "body", "law", "help"}),
        ("viewfinder", {"title", "body", "law", "help"}),
        ("warn", {"title", "body", "law", "help", "confirm"}),
        ("error", {"title", "body", "help"}),
    ],
    ids=["blocked", "viewfinder", "warn", "error"],
)
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_notice_shapes(lang: str, kind: str, keys: set[str]) -> None:
    messages = SHIPPED[lang]
    notice = messages.notice(kind)
    assert set(notice) == keys
    assert notice["title"] == getattr(messages, f"{kind}_title")
    assert notice["body"] == getattr(messages, f"{kind}_body")
    assert notice["help"] == messages.help
    if "law" in keys:
        assert notice["law"] == messages.law


def test_notice_warn_confirm() -> None:
    assert SHIPPED["en"].notice("warn")["confirm"] == "Save anyway"


@pytest.mark.parametrize(
    ("override", "expected"),
    [(None, "shipped"), ("", "shipped"), ("   ", "shipped"), ("Call the school nurse.", "Call the school nurse.")],
    ids=["none", "empty", "blank", "text"],
)
def test_help_override(override: str | None, expected: str) -> None:
    messages = dataclasses.replace(SHIPPED["en"], help="shipped")
    assert messages.notice("blocked", help_override=override)["help"] == expected


def test_unknown_notice_kind() -> None:
    with pytest.raises(ValueError, match="unknown notice kind"):
        SHIPPED["en"].notice("blocked_title")


def test_load_custom_file(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(toml_for({"en": full("en"), "de": full("de")}), encoding="utf-8")
    loaded = load_messages(path)
    assert sorted(loaded) == ["de", "en"]
    assert loaded["de"].notice("error")["title"] == "de error_title"


@pytest.mark.parametrize(
    ("tables", "fragments"),
    [
        ({"en": {k: v for k, v in full("en").items() if k != "law"}}, ["[en]", "missing keys ['law']"]),
        ({"en": full("en"), "ja": {**full("ja"), "extra": "x"}}, ["[ja]", "unknown keys ['extra']"]),
        ({"en": {**full("en"), "help": 3}}, ["[en]", "not non-empty strings ['help']"]),
        ({"en": {**full("en"), "help": ""}}, ["[en]", "not non-empty strings ['help']"]),
        ({"ja": full("ja")}, ["needs an [en] table"]),
        ({}, ["needs an [en] table"]),
    ],
    ids=["missing", "extra", "not-string", "empty-string", "no-en", "empty-file"],
)
def test_load_invalid(tmp_path: Path, tables: dict[str, dict[str, object]], fragments: list[str]) -> None:
    path = tmp_path / "m.toml"
    path.write_text(toml_for(tables), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_messages(path)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_load_language_not_a_table(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text('fr = "bonjour"\n' + toml_for({"en": full("en")}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[fr\] must be a table"):
        load_messages(path)


def test_load_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text("[en\nname = ", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_messages(path)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read messages file"):
        load_messages(tmp_path / "nope.toml")


AVAILABLE = ("en", "ja")


@pytest.mark.parametrize(
    ("setting", "header", "expected"),
    [
        ("ja", "en", "ja"),
        ("en", "ja", "en"),
        ("fr", "ja", "ja"),
        ("fr", None, "en"),
        ("auto", None, "en"),
        ("auto", "", "en"),
        ("auto", "ja-JP,ja;q=0.9,en;q=0.8", "ja"),
        ("auto", "en-US,en;q=0.9,ja;q=0.8", "en"),
        ("auto", "fr-FR,fr;q=0.9,ja;q=0.5,en;q=0.4", "ja"),
        ("auto", "en;q=0.4,ja;q=0.5", "ja"),
        ("auto", "ja;q=0,en", "en"),
        ("auto", "JA", "ja"),
        ("auto", "ja-jp", "ja"),
        ("auto", "de", "en"),
        ("auto", "*", "en"),
        ("auto", "ja;q=abc,en;q=0.1", "en"),
        ("auto", ";;,,;q=,", "en"),
        ("auto", "ja ; q = 0.7 , en ; q = 0.6", "ja"),
    ],
    ids=[
        "setting-ja",
        "setting-en",
        "setting-unavailable",
        "setting-unavailable-no-header",
        "no-header",
        "empty-header",
        "ja-first",
        "en-first",
        "fr-then-ja",
        "q-order",
        "q-zero",
        "uppercase",
        "region-only",
        "unavailable",
        "wildcard",
        "bad-q",
        "garbage",
        "spaces",
    ],
)
def test_choose_language(setting: str, header: str | None, expected: str) -> None:
    assert choose_language(setting, header, AVAILABLE) == expected
