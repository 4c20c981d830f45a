"""``triops init``: a project's triops.toml and .gitignore, written once and read back."""

from __future__ import annotations

from typer.testing import CliRunner

from triops.cli.main import app
from triops.core.settings import Settings


def test_init_writes_config_and_ignores_the_store_once(tmp_path, monkeypatch):
    (tmp_path / ".gitignore").write_text("__pycache__/")  # no final newline
    result = CliRunner().invoke(app, ["init", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / ".gitignore").read_text().splitlines() == [
        "__pycache__/", "# triops: the embedded store and artifacts", ".triops/"]
    monkeypatch.chdir(tmp_path)
    for name in ("TRIOPS_CONFIG", "TRIOPS_PORT", "TRIOPS_HOME", "TRIOPS_HOST"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.load()  # the written file is valid settings
    assert (settings.port, settings.host, str(settings.home)) == (7600, "127.0.0.1", ".triops")

    (tmp_path / "triops.toml").write_text("port = 7700\n")
    again = CliRunner().invoke(app, ["init"])
    assert again.exit_code == 0 and "kept" in again.output
    assert (tmp_path / "triops.toml").read_text() == "port = 7700\n"
    assert (tmp_path / ".gitignore").read_text().count(".triops/") == 1
    assert "not a folder" in str(CliRunner().invoke(app, ["init", "nope"]).exception)
