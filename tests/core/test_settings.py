import pytest

from triops.core.errors import ConfigError
from triops.core.settings import Settings


def test_precedence_flags_over_env_over_toml(tmp_path, monkeypatch):
    config = tmp_path / "triops.toml"
    config.write_text('port = 9100\nhost = "127.0.0.1"\nmax_body_bytes = 2048\nlog_level = "debug"\n')
    monkeypatch.setenv("TRIOPS_CONFIG", str(config))
    monkeypatch.setenv("TRIOPS_MAX_BODY_BYTES", "4096")
    settings = Settings.load(log_level="warning")
    assert settings.port == 9100  # from the file
    assert settings.max_body_bytes == 4096  # env beats the file
    assert settings.log_level == "warning"  # flags beat everything


def test_defaults_live_under_home(tmp_path):
    settings = Settings.load(home=tmp_path)
    assert settings.store_url == f"sqlite:///{tmp_path.resolve() / 'triops.db'}"
    assert settings.artifacts_location == str((tmp_path / "artifacts").resolve())


def test_bad_values_give_one_readable_error(monkeypatch):
    monkeypatch.setenv("TRIOPS_PORT", "not-a-port")
    with pytest.raises(ConfigError, match="port"):
        Settings.load()


def test_store_must_be_a_url():
    with pytest.raises(ConfigError, match="SQLAlchemy URL"):
        Settings.load(store="just/a/path.db")


@pytest.mark.parametrize("host, allowed", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                           ("0.0.0.0", False), ("10.1.2.3", False)])
def test_no_auth_only_on_loopback(host, allowed):
    settings = Settings.load(host=host, auth=False)
    if allowed:
        settings.check_auth_binding()
    else:
        with pytest.raises(ConfigError, match="refused"):
            settings.check_auth_binding()
