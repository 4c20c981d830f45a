"""``triops deploy`` against a real store: deploy, list, refuse a pickle, delete."""

from __future__ import annotations

import subprocess
import sys

from tests.ml import serving_models as sm
from triops.store.repos import audit, deployments

BACKENDS_UNDER_TEST = ("sqlite",)


def triops(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "triops", *args], capture_output=True,
                          text=True, timeout=120)


def test_deploy_list_refuse_delete(runtime, settings, tmp_path):
    sm.register(runtime, "churn", sm.mlflow_files(sm.classifier()), alias="champion")
    sm.register(runtime, "risky", sm.malicious_mlflow_files(tmp_path / "marker"))
    where = ["--store", settings.store_url, "--artifacts", settings.artifacts_location]

    done = triops("deploy", "churn", "--model", "churn@champion", "--canary", "1=20", *where)
    assert done.returncode == 0, done.stderr
    assert "deployed endpoint churn" in done.stdout and "primary v1" in done.stdout
    listed = triops("deploy", *where)
    assert "churn" in listed.stdout and "canary 1 20%" in listed.stdout

    refused = triops("deploy", "risky", "--model", "risky/1", *where)
    assert refused.returncode == 1
    assert "--trust-pickle" in refused.stderr and len(refused.stderr.strip().splitlines()) <= 3
    assert not (tmp_path / "marker").exists()

    bad = triops("deploy", "x", "--model", "churn", *where)
    assert bad.returncode == 1 and "NAME@ALIAS" in bad.stderr

    assert triops("deploy", "churn", "--delete", *where).returncode == 0
    with runtime.db.read() as session:
        assert deployments.list_all(session, "default") == []
        actions = [e.action for e in audit.recent(session, "default")]
    assert actions[:2] == ["endpoint.delete", "endpoint.deploy"]
