"""`triops up` as a new user runs it: first start prints the URL and the admin key once."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.e2e


def _start(home, port):
    return subprocess.Popen([sys.executable, "-m", "triops", "up", "--port", str(port)],
                            cwd=home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _read_until_ready(proc, url, timeout=120):
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break  # the process ended
        lines.append(line)
        if "Uvicorn running" in line:
            break
    out = "".join(lines)
    assert "Uvicorn running" in out, out
    assert httpx.get(f"{url}/readyz", timeout=30).status_code == 200
    return out


def test_first_start_prints_url_and_key_once(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start(tmp_path, port)
    try:
        out = _read_until_ready(proc, url)
    finally:
        proc.terminate()
        proc.wait(10)
    assert url in out
    key = re.search(r"admin API key \(shown once, store it now\): (\S+)", out).group(1)
    assert (tmp_path / ".triops" / "triops.db").exists()

    proc = _start(tmp_path, port)
    try:
        again = _read_until_ready(proc, url)
        assert "admin API key" not in again
        ok = httpx.get(f"{url}/api/v1/keys", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200 and ok.json()[0]["role"] == "admin"
        assert key not in ok.text  # secrets are never returned
        login = httpx.post(f"{url}/ui/login", data={"api_key": key})
        assert login.status_code == 303 and key not in login.headers["set-cookie"]
        ui = httpx.get(f"{url}/ui", cookies={"triops_session": login.cookies["triops_session"]})
        assert ui.status_code == 200 and "Overview" in ui.text
    finally:
        proc.terminate()
        proc.wait(10)
