"""Merging and splitting incidents by hand on the incident page, and the read-only
runbook pages, in headless Chromium.

Two unrelated signals open two incidents; an editor merges the first into the second
with the form, is shown why a merge into an unknown id is refused, splits the first
signal's fingerprint off again, and reads the runbook that matched it. A viewer sees
neither form and is refused if it posts anyway.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.e2e.browser import browser_page, login, shot
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

BOOK = """
description: page the payments on-call
trigger: {{kind: latency, entity: "service:pay"}}
approval: required
steps: [{{action: notify, params: {{channel: oncall, message: "{message}"}}}}]
"""


def _key(http: httpx.Client, role: str) -> str:
    made = http.post("/api/v1/keys", json={"role": role, "project": "default", "name": role})
    assert made.status_code == 201, made.text
    return made.json()["secret"]


def _signal(http: httpx.Client, kind: str, subject: str, summary: str) -> str:
    folded = http.post("/api/v1/signals", json={
        "source": "ops", "kind": kind, "subject": subject, "severity": "error",
        "time_ms": int(time.time() * 1000), "summary": summary})
    assert folded.status_code in (200, 201), folded.text
    return folded.json()["incident_id"]


def _members(page) -> list[str]:
    rows = page.locator("#grouping tbody tr code:first-child")
    return sorted(rows.nth(i).inner_text() for i in range(rows.count())
                  if rows.nth(i).inner_text().startswith("service:"))


def test_merge_split_and_runbook_pages(server):
    http = server.http()
    for message in ("payments are slow", "payments are slow, see the dashboard"):
        put = http.put("/api/v1/runbooks/page-pay", content=BOOK.format(message=message))
        assert put.status_code == 201, put.text
    pay = _signal(http, "latency", "service:pay", "p95 latency 900 ms")
    ledger = _signal(http, "errors", "service:ledger", "5xx rate 12%")
    assert pay != ledger
    wait_until(lambda: http.get("/api/v1/runbook-runs", params={"incident_id": pay}).json(),
               timeout=30)
    editor, viewer = _key(http, "editor"), _key(http, "viewer")

    with browser_page(server.url) as page:
        login(page, viewer)
        page.goto(f"/ui/incidents/{pay}")
        assert "service:pay" in page.inner_text("#grouping")
        assert page.locator("#merge-form").count() == 0
        assert page.locator("#split-form").count() == 0
        refused = page.request.post(f"/ui/incidents/{pay}/merge", form={"into": ledger})
        assert refused.status == 403
        refused = page.request.post(f"/ui/incidents/{pay}/split", form={"fingerprint": "x"})
        assert refused.status == 403
        assert http.get(f"/api/v1/incidents/{pay}").json()["status"] == "open"

    with browser_page(server.url) as page:
        login(page, editor)
        page.goto(f"/ui/incidents/{pay}")
        page.fill("#merge-form input[name=into]", "no-such-incident")
        page.click("#merge-form button")
        page.wait_for_load_state()
        assert "does not exist" in page.inner_text("#form-error")
        shot(page, "incident-merge-refused")
        itself = page.request.post(f"/ui/incidents/{pay}/merge", form={"into": pay})
        assert itself.status == 400 and "cannot be merged into itself" in itself.text()

        page.select_option("#merge-form select[name=target]", ledger)
        page.click("#merge-form button")
        page.wait_for_url(f"**/ui/incidents/{ledger}")
        assert _members(page) == ["service:ledger", "service:pay"]
        shot(page, "incident-merged")
        merged = http.get(f"/api/v1/incidents/{pay}").json()
        assert merged["status"] == "resolved"

        page.click("#split-form button")  # nothing ticked
        page.wait_for_load_state()
        assert "none given" in page.inner_text("#form-error")
        page.check("#split-form input[aria-label='split off service:pay']")
        page.click("#split-form button")
        page.wait_for_url(lambda url: "/ui/incidents/" in url and ledger not in url)
        new_id = page.url.rsplit("/", 1)[1]
        assert new_id not in (pay, ledger)
        assert _members(page) == ["service:pay"]
        assert page.locator("#split-form").count() == 0  # one member: nothing to split
        shot(page, "incident-split")
        page.goto(f"/ui/incidents/{ledger}")
        assert _members(page) == ["service:ledger"]

        page.click("nav >> text=Runbooks")
        page.wait_for_url("**/ui/runbooks")
        row = page.inner_text("tr.runbook")
        assert "page-pay" in row and "v2" in row and "required" in row
        assert "kind latency · entity service:pay" in row and "pending approval" in row
        assert "Read-only" in page.inner_text("#read-only")
        shot(page, "runbooks")

        page.click("tr.runbook a")
        page.wait_for_url("**/ui/runbooks/page-pay")
        assert "see the dashboard" in page.inner_text("#source")
        page.click("#versions summary")
        assert "payments are slow\"" in page.inner_text("#versions")
        runs = page.inner_text("#runs")
        assert "pending approval" in runs and pay[:8] in runs
        shot(page, "runbook")
        page.click(f"#runs a[href='/ui/incidents/{pay}']")
        page.wait_for_url(f"**/ui/incidents/{pay}")
        assert page.goto("/ui/runbooks/absent").status == 404
