"""The web UI shell in headless Chromium: log in, navigate, act on an incident."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.browser import browser_page, login, shot

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


# The pages do not depend on the store backend; the API tests cover both.
BACKENDS_UNDER_TEST = ("sqlite",)


def test_login_navigate_and_resolve_incident(server):
    with server.http() as http:
        incident_id = http.post("/api/v1/signals", json={
            "source": "ml", "kind": "drift", "subject": "model:churn@champion",
            "severity": "error", "value": 0.31, "summary": "Feature drift on churn@champion",
            "labels": {"feature": "tenure"},
        }).json()["incident_id"]

    with browser_page(server.url) as page:
        page.goto("/ui/incidents")
        # Not logged in: sent to the login page, which sends back here afterwards.
        assert page.url.endswith("/ui/login?next=%2Fui%2Fincidents")
        page.fill("#api_key", "tri_wrong_key_000000000")
        page.click("button[type=submit]")
        assert "unknown or revoked" in page.inner_text("[role=alert]")
        shot(page, "shell-login-error")

        login(page, server.admin_key)
        assert "Open incidents" in page.inner_text("main")
        assert "Feature drift on churn@champion" in page.inner_text("main")
        shot(page, "shell-overview")

        page.click("nav.sections >> text=Incidents")
        page.click("text=Feature drift on churn@champion")
        assert incident_id in page.url
        page.click("button:has-text('Acknowledge')")
        assert "acknowledged by key:admin" in page.inner_text("dl.facts")
        page.click("button:has-text('Resolve')")
        assert "resolved" in page.inner_text("dl.facts")
        shot(page, "shell-incident")

        page.click("nav.sections >> text=Keys")
        assert "all projects" in page.inner_text("table")
        shot(page, "shell-keys")

        page.click("nav.sections >> text=Ops")
        assert page.url.endswith("/ui/ops")
        page.click("text=Log out")
        page.goto("/ui")
        assert page.url.endswith("/ui/login")

    with server.http() as http:
        assert http.get(f"/api/v1/incidents/{incident_id}").json()["status"] == "resolved"


def test_static_assets_are_served_locally(server):
    css = httpx.get(f"{server.url}/static/triops.css")
    assert css.status_code == 200 and "--accent" in css.text
    # The charting library is served from the package, with its licence beside it.
    for path in ("/static/triops-charts.js", "/static/vendor/echarts-6.1.0/echarts.min.js",
                 "/static/vendor/echarts-6.1.0/LICENSE", "/static/vendor/dagre-3.1.4/dagre.min.js",
                 "/static/vendor/dagre-3.1.4/LICENSE"):
        assert httpx.get(f"{server.url}{path}").status_code == 200, path
    script = httpx.get(f"{server.url}/static/triops-charts.js").text
    assert "/static/vendor/echarts-6.1.0/echarts.min.js" in script
    assert "/static/vendor/dagre-3.1.4/dagre.min.js" in script
