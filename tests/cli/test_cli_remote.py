"""User verbs reach the server from any folder: URL and key from the environment or a
``triops login`` profile; offline work on a store never creates an empty one."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.in_process import cli, failure
from tests.conftest import ServerProcess
from triops.cli.incidents import pick_one
from triops.core.errors import InvalidInput, NotFound

BACKENDS_UNDER_TEST = ("sqlite",)
MLFLOW = "/api/2.0/mlflow"


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder to run from, and a config folder of its own (no saved profiles)."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("TRIOPS_URL", "TRIOPS_API_KEY", "TRIOPS_PROFILE", "TRIOPS_CONFIG",
                 "TRIOPS_PORT", "TRIOPS_HOST"):
        monkeypatch.delenv(name, raising=False)
    return folder


def _signal(server: ServerProcess, subject: str, time_ms: int) -> str:
    with server.http() as http:
        got = http.post("/api/v1/signals", json={
            "source": "ops", "kind": f"k-{subject}", "subject": subject,
            "severity": "error", "time_ms": time_ms})
    assert got.status_code == 201, got.text
    return got.json()["incident_id"]


def test_incidents_from_another_folder_go_to_the_server(server, elsewhere):
    env = {"TRIOPS_URL": server.url, "TRIOPS_API_KEY": server.admin_key}
    # Far apart in time and subject, so each opens its own incident.
    ids = {_signal(server, f"service:s{i}", 1_700_000_000_000 + i * 86_400_000 * 30)
           for i in range(17)}
    assert len(ids) == 17

    listed = cli("incidents", "list", "--limit", "1000", env=env)
    assert listed.exit_code == 0, listed.output
    assert all(i in listed.output for i in ids)
    assert list(elsewhere.iterdir()) == []  # nothing was created here

    one = min(ids)
    shown = cli("incidents", "show", one[:10], env=env)
    assert shown.exit_code == 0, shown.output
    assert one in shown.output and "service:s" in shown.output
    acked = cli("incidents", "ack", one[:10], env=env)
    assert acked.exit_code == 0 and f"acknowledged {one}" in acked.output
    with server.http() as http:
        assert http.get(f"/api/v1/incidents/{one}").json()["status"] == "acknowledged"

    # 17 ids over 16 hex digits: some first digit starts two of them.
    first = [i[0] for i in ids]
    shared = next(c for c in first if first.count(c) > 1)
    ambiguous = cli("incidents", "resolve", shared, env=env)
    assert "is ambiguous" in failure(ambiguous) and "give more characters" in failure(ambiguous)
    assert "no incident id starts with 'zz'" in failure(cli("incidents", "ack", "zz", env=env))


def test_a_missing_key_or_server_says_what_to_do(server, elsewhere):
    no_key = cli("incidents", "list", env={"TRIOPS_URL": server.url})
    assert "triops login" in failure(no_key) and "--api-key" in failure(no_key)
    gone = cli("models", "list", env={"TRIOPS_URL": "http://127.0.0.1:9",
                                      "TRIOPS_API_KEY": "x"})
    assert "cannot reach the triops server at http://127.0.0.1:9" in failure(gone)


def test_login_saves_a_private_profile_used_by_every_verb(server, elsewhere, tmp_path):
    refused = cli("login", "--server", server.url, "--api-key", "tri_wrong")
    assert failure(refused).startswith("GET /api/v1/projects")
    assert not (tmp_path / "config").exists()

    done = cli("login", "--server", server.url, "--api-key", server.admin_key)
    assert done.exit_code == 0, done.output
    saved = tmp_path / "config" / "triops" / "profiles.toml"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert server.admin_key in saved.read_text()

    listed = cli("incidents", "list")  # no URL, no key: the profile's
    assert listed.exit_code == 0, listed.output
    # The profile's key is never sent to another server.
    other = cli("incidents", "list", "--server", "http://127.0.0.1:9")
    assert "cannot reach" in failure(other)
    assert "no login profile 'ci'" in failure(cli("runs", "list", "--profile", "ci"))
    assert cli("logout").exit_code == 0
    assert "triops login" in failure(cli("incidents", "list", "--server", server.url))


def test_runs_and_models_verbs(server, elsewhere):
    with server.http() as http:
        exp = http.post(f"{MLFLOW}/experiments/create", json={"name": "cli-churn"}).json()
        run = http.post(f"{MLFLOW}/runs/create", json={
            "experiment_id": exp["experiment_id"], "run_name": "baseline",
            "start_time": 1_700_000_000_000}).json()["run"]["info"]
        for path, body in (
                ("runs/log-batch", {
                    "run_id": run["run_id"], "params": [{"key": "depth", "value": "7"}],
                    "metrics": [{"key": "auc", "value": 0.91, "timestamp": 1, "step": 0}]}),
                ("registered-models/create", {"name": "cli-churn"}),
                ("model-versions/create", {"name": "cli-churn", "run_id": run["run_id"],
                                           "source": f"runs:/{run['run_id']}/model"}),
                ("registered-models/alias", {"name": "cli-churn", "alias": "champion",
                                             "version": "1"})):
            done = http.post(f"{MLFLOW}/{path}", json=body)
            assert done.status_code == 200, (path, done.text)
    env = {"TRIOPS_URL": server.url, "TRIOPS_API_KEY": server.admin_key}

    listed = cli("runs", "list", "--experiment", "cli-churn", env=env)
    assert listed.exit_code == 0, listed.output
    assert run["run_id"] in listed.output and "auc=0.91" in listed.output
    filtered = cli("runs", "list", "-e", "cli-churn", "--filter", "metrics.auc > 0.95", env=env)
    assert run["run_id"] not in filtered.output
    shown = cli("runs", "show", run["run_id"], env=env)
    assert "baseline" in shown.output and "depth" in shown.output and "0.91" in shown.output
    assert "not found" in failure(cli("runs", "show", "0" * 32, env=env))

    models = cli("models", "list", env=env)
    assert "cli-churn" in models.output and "@champion=v1" in models.output
    model = cli("models", "show", "cli-churn", env=env)
    assert "@champion" in model.output and run["run_id"] in model.output


def test_offline_on_a_store_that_is_not_there_creates_nothing(elsewhere, tmp_path):
    missing = tmp_path / "nowhere" / "triops.db"
    result = subprocess.run(
        [sys.executable, "-m", "triops", "incidents", "list", "--store", f"sqlite:///{missing}"],
        capture_output=True, text=True, timeout=120, cwd=elsewhere, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: no triops store at {missing} (nothing was created): run the command where "
        "the store is, or pass --store URL / --home FOLDER; `triops db upgrade` creates a "
        "new one")
    assert not missing.exists() and not (elsewhere / ".triops").exists()
    assert "no triops store" in failure(cli("keys", "list"))
    assert not (elsewhere / ".triops").exists()


def test_pick_one_names_the_candidates():
    assert pick_one("ab", ["abc"]) == "abc"
    with pytest.raises(NotFound):
        pick_one("ab", [])
    with pytest.raises(InvalidInput, match="matches ab1, ab2"):
        pick_one("ab", ["ab1", "ab2"])
    with pytest.raises(InvalidInput, match="required"):
        pick_one("", ["abc"])


def test_monitor_and_deploy_go_to_the_server(server, elsewhere):
    env = {"TRIOPS_URL": server.url, "TRIOPS_API_KEY": server.admin_key}
    spec = '{"reference": {"kind": "window", "start_ms": 0, "end_ms": 1000}}'
    made = cli("monitor", "create", "cli-mon", "--endpoint", "churn", "--spec", spec, env=env)
    assert made.exit_code == 0, made.output
    listed = cli("monitor", "list", env=env)
    assert "cli-mon" in listed.output and "never run" in listed.output
    assert cli("deploy", env=env).exit_code == 0
    missing = cli("deploy", "churn", "--model", "nothere@champion", env=env)
    assert "nothere" in failure(missing)
    assert list(elsewhere.iterdir()) == []
    assert "'nope'" in failure(cli("runbooks", "delete", "nope", env=env))


def test_pipeline_register_uploads_a_file(server, elsewhere):
    env = {"TRIOPS_URL": server.url, "TRIOPS_API_KEY": server.admin_key}
    (elsewhere / "train.py").write_text(
        "from triops.ml.pipelines import Pipeline\n\nsums = Pipeline('sums', params=['n'])\n\n\n"
        "@sums.step(inputs=['n'], outputs=['total'])\ndef add(n):\n    return n + 1\n")
    done = cli("pipeline", "register", "sums", "train.py", env=env)
    assert done.exit_code == 0, done.output
    assert "SHA-256" in done.output and "params: n" in done.output
    assert "file sha256:" in cli("pipeline", "list", env=env).output
    missing = cli("pipeline", "register", "x", "nothere.py", env=env)
    assert "cannot read pipeline file nothere.py" in failure(missing)
    unknown = cli("pipeline", "register", "x", "os:system", env=env)
    assert "not registered pipeline code" in failure(unknown)


def test_offline_show_names_the_store_and_the_incident(store_url, elsewhere):
    from triops.core.signals import Pillar, Signal
    from triops.ops import ingest
    from triops.store import Database

    db = Database(store_url)
    with db.write() as session:
        folded = ingest(session, "default", Signal(source=Pillar.ops, kind="k",
                                                   subject="service:offline"))
    db.dispose()
    shown = cli("incidents", "show", folded.incident_id[:8], "--store", store_url)
    assert shown.exit_code == 0, shown.output
    assert folded.incident_id in shown.stdout and "service:offline" in shown.stdout
    assert shown.stderr.startswith("store: ")


def test_retention_set_show_and_clear(server, elsewhere):
    env = {"TRIOPS_URL": server.url, "TRIOPS_API_KEY": server.admin_key}
    done = cli("retention", "set", "--metrics-raw", "7d", "--metrics-rollup", "90d", env=env)
    assert done.exit_code == 0, done.output
    shown = cli("retention", "show", env=env).output
    assert "metrics_raw     7 d (604800 s)" in shown and "logs            kept" in shown
    assert "at least 5m" in failure(cli("retention", "set", "--metrics-raw", "1m", env=env))
    assert cli("retention", "clear", env=env).exit_code == 0
    assert "everything is kept" in failure(cli("retention", "show", env=env))


def test_prometheus_sources_put_list_show_and_delete(server, elsewhere):
    env = {"TRIOPS_URL": server.url, "TRIOPS_API_KEY": server.admin_key}
    token = elsewhere / "token"
    token.write_text("s3cret\n")
    done = cli("ops", "prometheus", "put", "queues", "--url", "http://127.0.0.1:1",
               "--query", "queue_depth", "--step", "15s", "--lookback", "1h",
               "--bearer-token-file", str(token), env=env)
    assert done.exit_code == 0, done.output
    assert "step 15 s, lookback 3600 s" in done.output and "bearer token" in done.output
    assert "s3cret" not in cli("ops", "prometheus", "list", env=env).output
    assert "queues" in cli("ops", "prometheus", "show", "queues", env=env).output
    (elsewhere / "empty").write_text("\n")
    assert "is empty" in failure(cli("ops", "prometheus", "put", "x", "--url", "http://p:9090",
                                     "--query", "up", "--bearer-token-file",
                                     str(elsewhere / "empty"), env=env))
    assert "must be a Prometheus base URL" in failure(cli(
        "ops", "prometheus", "put", "x", "--url", "prometheus", "--query", "up", env=env))
    assert cli("ops", "prometheus", "delete", "queues", env=env).exit_code == 0
    assert "does not exist" in failure(cli("ops", "prometheus", "show", "queues", env=env))
