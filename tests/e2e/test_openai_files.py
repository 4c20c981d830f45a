"""The stock ``openai`` client drives ``/v1/files`` on a real ``triops up``."""

from __future__ import annotations

import json

import openai
import pytest

from tests.conftest import ServerProcess

pytestmark = pytest.mark.e2e


def chat_lines(*pairs: tuple[str, str]) -> bytes:
    return b"".join(json.dumps({"messages": [
        {"role": "user", "content": q}, {"role": "assistant", "content": a}]}).encode() + b"\n"
        for q, a in pairs)


def client_for(server: ServerProcess, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key or server.admin_key,
                         max_retries=0, timeout=20)


def test_upload_list_retrieve_read_delete(server):
    client = client_for(server)
    data = chat_lines(("2+2?", "4"), ("capital of France?", "Paris"))
    made = client.files.create(file=("train.jsonl", data), purpose="fine-tune")
    assert made.object == "file" and made.id.startswith("file-")
    assert (made.filename, made.purpose, made.bytes, made.status) == (
        "train.jsonl", "fine-tune", len(data), "processed")
    notes = client.files.create(file=("notes.txt", b"plain words"), purpose="user_data")

    assert client.files.retrieve(made.id) == made
    assert client.files.content(made.id).content == data
    listed = [f.id for f in client.files.list()]
    assert listed[:2] == [notes.id, made.id]  # newest first
    assert [f.id for f in client.files.list(purpose="fine-tune")] == [made.id]
    # limit=1 makes the client follow the `after` cursor, page by page.
    first_page = client.files.list(limit=1, order="asc")
    assert first_page.has_more and len(first_page.data) == 1
    assert [f.id for f in first_page][-2:] == [made.id, notes.id]

    deleted = client.files.delete(made.id)
    assert deleted.deleted and deleted.id == made.id
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(made.id)
    with pytest.raises(openai.NotFoundError):
        client.files.content(made.id)


def test_a_fine_tuning_file_is_checked_on_upload(server):
    client = client_for(server)
    bad = chat_lines(("q", "a")) + b'{"messages": [{"role": "user", "content": "no answer"}]}\n'
    with pytest.raises(openai.BadRequestError, match="line 2: no assistant message"):
        client.files.create(file=("bad.jsonl", bad), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError, match="line 1: not JSON"):
        client.files.create(file=("bad.jsonl", b"hello\n"), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError, match="purpose must be one of"):
        client.files.create(file=("a.txt", b"x"), purpose="fine-tune-results")


def test_files_belong_to_their_project(server):
    with server.http() as http:
        other = http.post("/api/v1/keys", json={"role": "editor", "project": "elsewhere"})
        viewer = http.post("/api/v1/keys", json={"role": "viewer", "project": "default"})
    mine = client_for(server).files.create(file=("a.txt", b"mine"), purpose="user_data")
    theirs = client_for(server, other.json()["secret"])
    with pytest.raises(openai.NotFoundError):
        theirs.files.retrieve(mine.id)
    with pytest.raises(openai.NotFoundError):
        theirs.files.delete(mine.id)
    assert mine.id not in [f.id for f in theirs.files.list()]
    reader = client_for(server, viewer.json()["secret"])
    assert reader.files.retrieve(mine.id).id == mine.id
    with pytest.raises(openai.PermissionDeniedError):
        reader.files.create(file=("b.txt", b"x"), purpose="user_data")
