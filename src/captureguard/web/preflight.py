"""What ``captureguard serve`` checks before it loads models or listens.

Everything the app would otherwise only find in its lifespan (where uvicorn prints a long
traceback) is checked here first, so a bad ``--messages``/``--profiles-file``/``--detectors``
file, a ``--data`` that is not a folder or a ``--record-hold-s`` out of range is one line and
exit 2, like the CLI's other errors.
"""

from __future__ import annotations

from captureguard.core.ledger import StreamSettings
from captureguard.core.policy import load_profiles
from captureguard.errors import ConfigError
from captureguard.models.base import load_detector_configs
from captureguard.web.config import ServerConfig
from captureguard.web.messages import load_messages


def check_config(config: ServerConfig) -> None:
    """Read every configuration file the server will use and make sure ``data_dir`` is usable.

    Raises:
        ConfigError: a file cannot be read or is invalid, the default profile is unknown, or
            ``data_dir`` exists but is not a folder (or cannot be created).
    """
    StreamSettings(record_hold_s=config.record_hold_s)  # a hold out of range: ConfigError, as a session would
    profiles = load_profiles(config.profiles_path)
    if config.default_profile not in profiles:
        raise ConfigError(f"unknown profile {config.default_profile!r}; choose one of {', '.join(profiles)}")
    load_messages(config.messages_path)
    configs = load_detector_configs(config.detectors_path)
    missing = [mode for mode in ("photo", "live") if mode not in configs]
    if missing:
        where = config.detectors_path or "the shipped detectors.toml"
        raise ConfigError(f"{where} has no [{']/['.join(missing)}] detectors; serve needs [photo] and [live]")
    data = config.data_dir
    if data.exists() and not data.is_dir():
        raise ConfigError(f"--data {data} is a file, not a folder; give a folder (it is created if missing)")
    try:
        data.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or exc
        raise ConfigError(f"cannot create the data folder {data}: {reason}; choose another --data") from exc
