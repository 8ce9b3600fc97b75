"""Tests for monitor.settings.load_settings: file, environment and override precedence."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from monitor.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def no_driftline_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests must not depend on DRIFTLINE_* variables of the shell that runs them."""
    for name in list(os.environ):
        if name.upper().startswith("DRIFTLINE_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str, name: str = "driftline.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_without_file_env_or_overrides() -> None:
    settings = load_settings()
    assert (settings.host, settings.port, settings.db_url) == ("127.0.0.1", 4318, "sqlite:///./driftline.db")
    assert settings.idle_close == 300.0 + 60.0
    assert settings.ingest_token is None


def test_yaml_file_values_are_used(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "port: 9000\nwindow_seconds: 30\nfamily_method: bonferroni\nadmin_token: s3cret\nidle_close_seconds: 5\n",
    )
    settings = load_settings(path)
    assert settings.port == 9000
    assert settings.window_seconds == 30.0
    assert settings.family_method == "bonferroni"
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == "s3cret"
    assert settings.idle_close == 5.0
    assert settings.host == "127.0.0.1"  # untouched options keep their defaults
    assert load_settings(str(path)) == settings  # str paths work too


def test_empty_yaml_file_means_defaults(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "")) == load_settings()


def test_env_beats_yaml_and_overrides_beat_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "port: 9000\nhost: 0.0.0.0\nwindow_seconds: 30\n")
    monkeypatch.setenv("DRIFTLINE_PORT", "9100")
    monkeypatch.setenv("DRIFTLINE_WINDOW_SECONDS", "45")
    settings = load_settings(path)
    assert (settings.port, settings.window_seconds, settings.host) == (9100, 45.0, "0.0.0.0")
    settings = load_settings(path, port=9200)
    assert (settings.port, settings.window_seconds, settings.host) == (9200, 45.0, "0.0.0.0")
    # Environment alone, without a file.
    assert load_settings().port == 9100


def test_none_overrides_are_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, "port: 9000\ndb_url: sqlite:///x.db\n")
    settings = load_settings(path, port=None, db_url=None, host="::1")
    assert (settings.port, settings.db_url, settings.host) == (9000, "sqlite:///x.db", "::1")


def test_unknown_key_in_yaml_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="window_secs"):
        load_settings(write(tmp_path, "window_secs: 30\n"))


def test_unknown_override_is_an_error_naming_it() -> None:
    with pytest.raises(ValidationError, match="colour"):
        load_settings(colour="blue")


def test_invalid_value_is_an_error_naming_the_option(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="port"):
        load_settings(write(tmp_path, "port: 70000\n"))
    with pytest.raises(ValidationError, match="family_method"):
        load_settings(family_method="holm")


def test_bad_yaml_is_a_value_error_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "port: [9000\n", name="broken.yaml")
    with pytest.raises(ValueError, match=r"cannot read config file '.*broken\.yaml'") as caught:
        load_settings(path)
    assert not isinstance(caught.value, ValidationError)


def test_yaml_that_is_not_a_mapping_is_a_value_error(tmp_path: Path) -> None:
    path = write(tmp_path, "- port\n- 9000\n", name="list.yaml")
    with pytest.raises(ValueError, match=r"config file '.*list\.yaml' must hold a mapping"):
        load_settings(path)


def test_missing_file_is_a_value_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(ValueError, match=r"cannot read config file '.*nowhere\.yaml'"):
        load_settings(missing)


def test_settings_object_is_independent_of_load_settings() -> None:
    # create_app takes a Settings; constructing one directly is the same as load_settings(**values).
    assert Settings(port=1234) == load_settings(port=1234)


def test_an_empty_token_means_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLINE_READ_TOKEN", "")
    monkeypatch.setenv("DRIFTLINE_INGEST_TOKEN", "  ")
    monkeypatch.setenv("DRIFTLINE_ADMIN_TOKEN", "s3cret")
    settings = Settings()
    assert settings.read_token is None
    assert settings.ingest_token is None
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == "s3cret"
