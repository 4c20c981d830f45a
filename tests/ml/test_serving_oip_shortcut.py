"""The Open Inference Protocol's infer, served by its hot-path shortcut, answers exactly
as the declared route does, request by request: same roles, same error shapes, same
metrics label."""

from __future__ import annotations

from tests.ml import serving_models as sm
from tests.shortcut_apps import admin_client
from triops.api.oip_shortcut import OipShortcut
from triops.core.principals import Role
from triops.store.repos import keys

BACKENDS_UNDER_TEST = ("sqlite",)
TENSORS = [{"name": "age", "shape": [2], "datatype": "FP64", "data": [30.0, 1.0]},
           {"name": "visits", "shape": [2, 1], "datatype": "INT64", "data": [[1], [2]]}]


def _requests(viewer: str) -> list[tuple[str, str, dict]]:
    as_json = {"content-type": "application/json"}
    return [
        ("POST", "/v2/models/churn/infer", {"json": {"id": "a", "inputs": TENSORS}}),
        ("POST", "/v2/models/churn/infer", {"json": {"inputs": [
            {"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [30.0, 1]}]}}),
        ("POST", "/v2/models/churn/infer", {"json": {"id": "b", "inputs": TENSORS},
                                            "headers": {"Authorization": f"Bearer {viewer}"}}),
        ("POST", "/v2/models/churn/infer", {"json": {"inputs": TENSORS},
                                            "headers": {"Authorization": ""}}),
        ("POST", "/v2/models/nope/infer", {"json": {"inputs": TENSORS}}),
        ("POST", "/v2/models/churn/infer", {"content": b"{nope", "headers": as_json}),
        ("POST", "/v2/models/churn/infer", {"json": {"inputs": []}}),
        ("POST", "/v2/models/churn/infer", {"json": {"inputs": [
            {"name": "age", "shape": [1], "datatype": "FP128", "data": [1.0]}]}}),
        ("POST", "/v2/models/churn/infer", {"json": {"inputs": [
            {"name": "age", "shape": [2], "datatype": "FP64", "data": [1.0]}]}}),
        ("POST", "/v2/models/churn/x/infer", {"json": {"inputs": TENSORS}}),
        ("POST", "/v2/models//infer", {"json": {"inputs": TENSORS}}),
        ("GET", "/v2/models/churn/infer", {}),
    ]


def test_shortcut_answers_as_the_declared_route_does(runtime):
    sm.register(runtime, "churn", sm.mlflow_files(sm.classifier()), alias="champion")
    with runtime.db.write() as session:
        viewer = keys.create(session, project="default", role=Role.viewer).secret
    seen = {}
    for shortcut in (True, False):
        with admin_client(runtime, without=None if shortcut else OipShortcut) as client:
            if shortcut:
                assert client.post("/api/v1/endpoints", json={
                    "name": "churn", "model": "churn@champion"}).status_code == 201
            seen[shortcut] = []
            for i, (method, path, kwargs) in enumerate(_requests(viewer)):
                headers = {"X-Request-ID": f"r{i}", **kwargs.pop("headers", {})}
                response = client.request(method, path, headers=headers, **kwargs)
                seen[shortcut].append((path, response.status_code, response.json()))
            seen[shortcut].append([line for line in client.get("/metrics").text.splitlines()
                                   if line.startswith("triops_http_requests_total{")
                                   and "/v2/" in line])
    assert seen[True] == seen[False]
    assert [status for _, status, _ in seen[True][:-1]] == [
        200, 200, 403, 401, 404, 400, 400, 400, 400, 404, 404, 405]
    assert seen[True][0][2]["outputs"][0]["data"] == [1, 0]
    assert 'triops_http_requests_total{method="POST",route="/v2/models/{name}/infer",' \
        'status="200"} 2.0' in seen[True][-1]


def test_shortcut_matches_only_its_route():
    shortcut = OipShortcut(app=None)  # type: ignore[arg-type]
    path = "/v2/models/churn/infer"
    scope = {"type": "http", "method": "POST", "path": path}
    assert shortcut.route_of(scope) is OipShortcut.infer
    assert scope["path_params"] == {"name": "churn"}
    for method, other in [("GET", path), ("POST", "/v2/models/churn"),
                          ("POST", "/v2/models/a/b/infer"), ("POST", "/v2/models//infer"),
                          ("POST", "/v2/models/churn/infer/")]:
        assert shortcut.route_of({"type": "http", "method": method, "path": other}) is None


def test_hostile_values_in_an_infer_body_are_refused_by_name(runtime):
    """The input guard reads an infer body itself (for the route, which reads it no
    more): what it refuses on other routes it refuses here, with or without the
    shortcut, naming the value."""
    sm.register(runtime, "churn", sm.mlflow_files(sm.classifier()), alias="champion")
    hostile = [(b"99999999999999999999", "body.inputs[0].data[1]"),
               (b"-9223372036854775809", "body.inputs[0].data[1]"),
               (b"1e400", "body.inputs[0].data[1]"),
               (b"NaN", "body.inputs[0].data[1]"),
               (b'"\\u0000"', "body.inputs[0].data[1]")]
    for shortcut in (True, False):
        with admin_client(runtime, without=None if shortcut else OipShortcut) as client:
            for value, where in hostile:
                body = b'{"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", ' \
                    b'"data": [30.5, ' + value + b"]}]}"
                response = client.post("/v2/models/churn/infer", content=body,
                                       headers={"content-type": "application/json"})
                assert response.status_code == 400, response.text
                assert response.json()["message"].startswith(where + ": ")


def test_the_read_body_makes_the_request_its_text_makes():
    """The route builds the request from the value the guard read: the same request as
    pydantic makes of the text, or a refusal (then the text is read, for its words)."""
    import orjson
    from pydantic import ValidationError

    from triops.api.oip import InferRequest

    tensor = {"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1.5, 2]}
    bodies = [{"inputs": [tensor]},
              {"id": "r1", "inputs": [tensor, {**tensor, "name": "y", "parameters": {"a": 1}}],
               "parameters": {"p": True}, "outputs": [{"name": "predict"}], "extra": 1},
              {"inputs": [{**tensor, "shape": [2], "data": [[1], "a", None, True]}]},
              [tensor], {"inputs": []}, {"inputs": [tensor] * 1025},
              {"id": 5, "inputs": [tensor]}, {"id": "x" * 129, "inputs": [tensor]},
              {"inputs": [{**tensor, "name": ""}]}, {"inputs": [{**tensor, "shape": [1.0, 2]}]},
              {"inputs": [{**tensor, "shape": ["1", 2]}]}, {"inputs": [{**tensor, "shape": []}]},
              {"inputs": [{**tensor, "shape": [True, 2]}]}, {"inputs": [{**tensor, "shape": [1.5]}]},
              {"inputs": [{**tensor, "datatype": 64}]}, {"inputs": [{**tensor, "data": 1.5}]},
              {"inputs": [{**tensor, "data": "ab"}]}, {"inputs": [{**tensor, "name": None}]},
              {"inputs": [{k: v for k, v in tensor.items() if k != "data"}]},
              {"inputs": [{**tensor, "parameters": []}]}, {"inputs": [tensor], "outputs": [1]},
              {"inputs": [tensor], "parameters": "p"}, {"inputs": {"0": tensor}}, None, "x"]

    def read(how, arg):  # type: ignore[no-untyped-def]
        try:
            return how(arg).model_dump()
        except ValidationError:
            return None

    for body in bodies:
        text = orjson.dumps(body)
        assert read(InferRequest.model_validate, orjson.loads(text)) == \
            read(InferRequest.model_validate_json, text), body
