"""`triops demo --check` as a user runs it: a subprocess that starts its own server and
plays the three closed loops headless.

On the embedded default only, as a newcomer runs it: the demo on PostgreSQL cost CI
another 50 s, and the store code its loops go through is tested on both backends by the
incident, runbook, gateway and serving tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

BACKENDS_UNDER_TEST = ("sqlite",)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

LOOPS = ("ml", "llm", "infra")


def _demo(*args: str, cwd) -> subprocess.CompletedProcess[str]:
    # Wide output, so that no line the test looks for is wrapped.
    return subprocess.run([sys.executable, "-m", "triops", "demo", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=540, check=False,
                          env={**os.environ, "COLUMNS": "300"})


def test_demo_check_closes_every_loop(store_url, tmp_path):
    done = _demo("--check", "--store", store_url, "--home", str(tmp_path), cwd=tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    seconds = {name: float(value) for name, value in re.findall(
        r"time from first signal to remediation, (\w+): ([\d.]+) s", out)}
    assert set(seconds) == set(LOOPS), out
    assert all(0 < s < 90 for s in seconds.values()), seconds
    # What each loop printed on its way, from the server's own answers.
    assert "first cause: model:churn@champion (model.alias.moved" in out
    assert "model.rollback_alias: model:churn@champion version: 2 → 1" in out
    assert "(upstream upstream-a)" in out and "route chat → ['upstream-b']" in out
    assert "first cause service:petInfo_AWS::DynamoDB::Table" in out
    print({name: f"{s:.1f} s" for name, s in seconds.items()})


def test_demo_refuses_an_unknown_loop(tmp_path):
    done = _demo("--check", "--only", "billing", cwd=tmp_path)
    assert done.returncode == 1
    assert "no demo loop 'billing'; the loops are ml, llm, infra" in done.stderr
