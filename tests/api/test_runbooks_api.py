"""The runbook API: versioned PUT, precise 400s for bad YAML, approval by role."""

from __future__ import annotations

from triops.core.principals import Role
from triops.store.repos import keys, registry

BOOK = """
trigger: {kind: drift}
steps: [{action: model.rollback_alias, params: {model: churn, to_version: 1}}]
"""


def test_put_versions_list_show_delete(client):
    first = client.put("/api/v1/runbooks/rollback", content=BOOK)
    second = client.put("/api/v1/runbooks/rollback", content=BOOK + "cooldown: 5m\n")
    assert (first.status_code, first.json()["version"]) == (201, 1)
    assert second.json()["version"] == 2 and second.json()["spec"]["cooldown"] == 300
    assert [b["version"] for b in client.get("/api/v1/runbooks").json()] == [2]
    old = client.get("/api/v1/runbooks/rollback", params={"version": 1}).json()
    assert old["source"] == BOOK
    assert client.delete("/api/v1/runbooks/rollback").status_code == 204
    assert client.get("/api/v1/runbooks/rollback").status_code == 404
    assert client.get("/api/v1/runbooks").json() == []


def test_bad_yaml_is_a_400_with_a_precise_message(client):
    reply = client.put("/api/v1/runbooks/x", content="trigger: {}\nsteps: [{action: nope}]")
    assert reply.status_code == 400
    assert "runbook steps[0].action: unknown action 'nope'; known: " in reply.text
    reply = client.put("/api/v1/runbooks/x", content="trigger: [\n")
    assert reply.status_code == 400 and "not valid YAML at line" in reply.text


def test_viewers_cannot_approve_editors_can(client, runtime):
    with runtime.db.write() as session:
        keys.create(session, project="default", role=Role.viewer, name="v",
                    secret="tri_viewer_0123456789abcdef0123")
        keys.create(session, project="default", role=Role.editor, name="e",
                    secret="tri_editor_0123456789abcdef0123")
        registry.create_model(session, "default", "churn")
        for _ in range(2):
            registry.create_version(session, "default", "churn", source="s3://x", run_id=None)
        registry.set_alias(session, "default", "churn", "champion", 2)
    headers = {"X-Triops-Project": "default"}
    assert client.put("/api/v1/runbooks/rollback", content=BOOK,
                      headers=headers).status_code == 201
    incident = client.post("/api/v1/signals", headers=headers, json={
        "source": "ml", "kind": "drift", "subject": "model:churn@champion"}).json()
    runtime.runbooks.tick()
    [run] = client.get("/api/v1/runbook-runs", headers=headers,
                       params={"incident_id": incident["incident_id"]}).json()
    assert run["status"] == "pending_approval"
    assert run["plan"][0]["changes"][0] == {"target": "model:churn@champion",
                                            "what": "version", "before": 2, "after": 1}
    viewer = {**headers, "Authorization": "Bearer tri_viewer_0123456789abcdef0123"}
    denied = client.post(f"/api/v1/runbook-runs/{run['id']}/approve", headers=viewer)
    assert denied.status_code == 403
    editor = {**headers, "Authorization": "Bearer tri_editor_0123456789abcdef0123"}
    approved = client.post(f"/api/v1/runbook-runs/{run['id']}/approve", headers=editor,
                           json={"note": "go"}).json()
    assert (approved["status"], approved["decided_by"]) == ("approved", "key:e")
    runtime.runbooks.tick()
    done = client.get(f"/api/v1/runbook-runs/{run['id']}", headers=headers).json()
    assert done["status"] == "succeeded" and done["steps"][0]["status"] == "ok"
    again = client.post(f"/api/v1/runbook-runs/{run['id']}/approve", headers=editor)
    assert again.status_code == 409
