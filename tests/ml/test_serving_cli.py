"""``triops deploy`` against a real store: deploy, list, refuse a pickle, delete."""

from __future__ import annotations

import subprocess
import sys

from tests.ml import serving_models as sm
from triops.store.repos import audit, deployments

BACKENDS_UNDER_TEST = ("sqlite",)


def triops(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "triops", *args], capture_output=True,
                          text=True, timeout=120, check=False)


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


def test_deploy_trusts_extra_skops_types_only_when_named(runtime, settings):
    from sklearn.neighbors import KNeighborsClassifier

    model = KNeighborsClassifier(3, algorithm="kd_tree").fit(sm.FEATURES, sm.LABELS)
    sm.register(runtime, "knn", sm.skops_files(model), alias="champion")
    where = ["--store", settings.store_url, "--artifacts", settings.artifacts_location]

    refused = triops("deploy", "knn", "--model", "knn@champion", *where)
    assert refused.returncode == 1
    assert "KDTree" in refused.stderr and "--trust-type" in refused.stderr
    types = ["sklearn.neighbors._kd_tree.KDTree",
             "sklearn.metrics._dist_metrics.EuclideanDistance64"]
    done = triops("deploy", "knn", "--model", "knn@champion", *where,
                  *[arg for t in types for arg in ("--trust-type", t)])
    assert done.returncode == 0, done.stderr
    with runtime.db.read() as session:
        row = deployments.get(session, "default", "knn")
        actions = [e.action for e in audit.recent(session, "default")]
    assert sorted(row.trusted_types) == sorted(types) and len(row.trusted_files) == 1
    assert "endpoint.trust_types" in actions
    assert "KDTree" in triops("deploy", *where, "--project", "default").stdout
