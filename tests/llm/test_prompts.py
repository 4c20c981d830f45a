"""Prompt registry: templates, versions, labels with undo and audit, API errors (both backends)."""

from __future__ import annotations

import pytest

from triops.core.errors import Conflict, NotFound
from triops.core.principals import Role
from triops.llm import prompts
from triops.llm.prompts import PromptRef, PromptTemplate, TemplateError, VariableError
from triops.store.repos import audit, keys
from triops.store.repos import prompts as repo

VIEWER = "tri_test_viewer_key_0123456789abcdef"
CHAT = [{"role": "system", "content": "You answer for {{ company }}."},
        {"role": "user", "content": "{{ question }}"}]


def _add(session, template=CHAT, **kw):
    args = {"kind": "chat", "template": template, "variables": None, "model": "chat",
            "params": {"temperature": 0.1}, "message": "first", "actor": "key:t"}
    args.update(kw)
    return prompts.create_version(session, "default", "support", **args)


def test_template_renders_and_names_bad_variables():
    t = PromptTemplate.chat(CHAT)
    assert t.variables == ("company", "question")
    assert t.messages(company="ACME", question="Hi?")[0]["content"] == "You answer for ACME."
    with pytest.raises(VariableError, match="missing prompt variable.*question"):
        t.messages(company="ACME")
    with pytest.raises(VariableError, match="undeclared prompt variable.*colour"):
        t.messages(company="ACME", question="q", colour="red")
    text = PromptTemplate.text("Say {{ word | upper }}")
    assert text.render(word="hi") == "Say HI"
    assert text.messages(word="x") == [{"role": "user", "content": "Say X"}]


def test_template_refuses_syntax_errors_with_line_and_sandbox_escapes():
    with pytest.raises(TemplateError, match=r"messages\[1\].content: .*line 3"):
        PromptTemplate.chat([{"role": "user", "content": "ok"},
                             {"role": "user", "content": "a\nb\n{% for x in y %}"}])
    with pytest.raises(TemplateError, match="undeclared variable.*other"):
        PromptTemplate.text("{{ a }} {{ other }}", ["a"])
    with pytest.raises(TemplateError, match="sandbox forbids"):
        PromptTemplate.text("{{ x.__class__.__mro__ }}").render(x=1)
    with pytest.raises(TemplateError, match="role"):
        PromptTemplate.chat([{"role": "wizard", "content": "x"}])


def test_ref_parsing():
    assert PromptRef.parse("a@production") == PromptRef("a", label="production")
    assert PromptRef.parse("a@3") == PromptRef("a", version=3)
    assert PromptRef.parse("a") == PromptRef("a")
    with pytest.raises(Exception, match="label"):
        PromptRef.parse("a@-x")


def test_versions_labels_undo_and_audit(db):
    with db.write() as s:
        v1 = _add(s, labels=["production"])
        v2 = _add(s, template=[{"role": "user", "content": "v2 {{ question }}"}], message="short")
        assert (v1.version, v2.version) == (1, 2)
    with db.read() as s:
        assert prompts.resolve(s, "default", "support@production").version == 1
        assert prompts.resolve(s, "default", "support").version == 2
        assert prompts.resolve(s, "default", "support@2").template.variables == ("question",)
    with db.write() as s:
        prompts.move_label(s, "default", "support", "production", 2, "key:t")
        prompts.move_label(s, "default", "support", "staging", 2, "key:t")
    with db.read() as s:
        assert prompts.resolve(s, "default", "support@production").version == 2
    with db.write() as s:
        move = prompts.undo_label(s, "default", "support", "production", "key:ops")
        assert (move.from_version, move.to_version, move.kind) == (2, 1, "undo")
    with db.read() as s:
        assert prompts.resolve(s, "default", "support@production").version == 1
        assert prompts.resolve(s, "default", "support@staging").version == 2
        history = repo.label_history(s, "default", "support", "production")
        assert [(m.kind, m.from_version, m.to_version) for m in history] == [
            ("undo", 2, 1), ("set", 1, 2), ("set", None, 1)]
        actions = [(e.action, e.target, e.detail.get("to_version"))
                   for e in audit.recent(s, "default")]
        assert ("prompt.label.undo", "prompt:support@production", 1) in actions
    with db.write() as s:  # undo again walks further back: the label had no version before
        prompts.undo_label(s, "default", "support", "production", "key:ops")
    with db.read() as s, pytest.raises(NotFound, match="no label 'production'"):
        prompts.resolve(s, "default", "support@production")
    with db.write() as s, pytest.raises(Conflict, match="no move left"):
        prompts.undo_label(s, "default", "support", "production", "key:ops")


def test_bad_template_writes_nothing(db):
    with db.write() as s, pytest.raises(TemplateError, match="line 1"):
        _add(s, template=[{"role": "user", "content": "{{ broken"}])
    with db.read() as s:
        assert repo.list_prompts(s, "default") == []


def test_diff_between_versions(db):
    with db.write() as s:
        _add(s)
        _add(s, template=[{"role": "system", "content": "You answer for {{ company }}."},
                          {"role": "user", "content": "Be brief. {{ question }}"}],
             params={"temperature": 0.5})
    with db.read() as s:
        lines = prompts.diff_versions(repo.get_version(s, "default", "support", 1),
                                      repo.get_version(s, "default", "support", 2))
    assert "-{{ question }}" in lines and "+Be brief. {{ question }}" in lines
    assert '+params: {"temperature": 0.5}' in lines


def test_api_create_resolve_render_undo_and_errors(client):
    r = client.post("/api/v1/prompts/answer/versions", json={
        "messages": [{"role": "user", "content": "Q: {{ q }}"}], "model": "chat",
        "message": "first", "labels": ["production"]})
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/prompts/answer/versions", json={
        "messages": [{"role": "user", "content": "line one\n{% if q %}"}]})
    assert r.status_code == 400 and "line 2" in r.json()["message"]
    client.post("/api/v1/prompts/answer/versions", json={
        "messages": [{"role": "user", "content": "Question: {{ q }}"}], "message": "clearer"})
    assert client.put("/api/v1/prompts/answer/labels/production",
                      json={"version": 2}).status_code == 200
    assert client.put("/api/v1/prompts/answer/labels/production",
                      json={"version": 9}).status_code == 404
    got = client.get("/api/v1/prompts/answer/resolve", params={"label": "production"}).json()
    assert got["version"] == 2 and got["variables"] == ["q"]
    rendered = client.post("/api/v1/prompts/answer/render",
                           json={"ref": "production", "variables": {"q": "why?"}}).json()
    assert rendered["messages"] == [{"role": "user", "content": "Question: why?"}]
    bad = client.post("/api/v1/prompts/answer/render", json={"variables": {}})
    assert bad.status_code == 400 and "q" in bad.json()["message"]
    undone = client.post("/api/v1/prompts/answer/labels/production/undo").json()
    assert (undone["from_version"], undone["to_version"]) == (2, 1)
    history = client.get("/api/v1/prompts/answer/history").json()
    assert [m["kind"] for m in history] == ["undo", "set", "set"]
    diff = client.get("/api/v1/prompts/answer/diff", params={"from": 1, "to": 2}).json()
    assert "+Question: {{ q }}" in diff["lines"]
    listed = client.get("/api/v1/prompts").json()
    assert listed[0]["labels"][0] == {**listed[0]["labels"][0], "label": "production", "version": 1}
    assert client.post("/api/v1/prompts/bad name/versions",
                       json={"text": "x", "kind": "text"}).status_code == 400


def test_docstring_examples_run():
    import doctest

    from triops.client import prompts as sdk_prompts
    from triops.client import template

    for module in (template, sdk_prompts):
        result = doctest.testmod(module, verbose=False)
        assert result.failed == 0 and result.attempted > 0, module.__name__


def test_concurrent_versions_get_distinct_numbers(db):
    import threading

    with db.write() as s:
        _add(s)
    errors = []

    def add() -> None:
        try:
            with db.write() as s:
                _add(s, message="parallel")
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=add) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.read() as s:
        assert sorted(v.version for v in repo.list_versions(s, "default", "support")) == [1, 2, 3, 4, 5]


def test_pages_render_and_refuse_bad_input(client):
    client.post("/api/v1/prompts/answer/versions", json={
        "messages": [{"role": "user", "content": "Q: {{ q }}"}], "labels": ["production"]})
    client.post("/api/v1/prompts/answer/versions", json={
        "messages": [{"role": "user", "content": "Question: {{ q }}"}], "labels": ["production"]})
    page = client.get("/ui/llm/prompts/answer")
    assert page.status_code == 200 and "Undo last move" in page.text
    diff = client.get("/ui/llm/prompts/answer/diff", params={"from": 1, "to": 2})
    assert diff.status_code == 200 and '<span class="add">+Question: {{ q }}</span>' in diff.text
    assert client.get("/ui/llm/prompts/answer/diff", params={"from": "x"}).status_code == 400
    assert client.get("/ui/llm/prompts/answer/diff", params={"from": 9}).status_code == 404
    assert client.get("/ui/llm/prompts/nope").status_code == 404
    assert client.get("/ui/llm/evals/compare", params={"a": "x", "b": "x"}).status_code == 400
    undone = client.post("/ui/llm/prompts/answer/labels/production/undo", follow_redirects=False)
    assert undone.status_code == 303
    assert client.get("/api/v1/prompts/answer/resolve",
                      params={"label": "production"}).json()["version"] == 1
    assert client.get("/ui/llm/evals").status_code == 200
    with client.app.state.runtime.db.write() as session:
        keys.create(session, project="default", role=Role.viewer, name="v", secret=VIEWER)
    as_viewer = {"Authorization": f"Bearer {VIEWER}"}
    assert "Undo last move" not in client.get("/ui/llm/prompts/answer", headers=as_viewer).text
    assert client.post("/ui/llm/prompts/answer/labels/production/undo", headers=as_viewer,
                       follow_redirects=False).status_code == 403
