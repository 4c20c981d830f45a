"""Open Inference Protocol v2 (KServe, Triton, Seldon, MLServer) for serving endpoints.

``{name}`` is a triops endpoint name. Inputs are named tensors, one per model field
(shape ``[n]`` or ``[n, 1]``), or a single ``[n, k]`` tensor whose columns follow the
model's signature. The answer holds one output tensor, ``predict``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter
from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from triops.core.errors import InvalidInput
from triops.ml import Column, ServingService, from_tensors
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.input_guard import NOT_READ, checked_json
from triops.server.runtime import runtime_of

if TYPE_CHECKING:
    from triops.ml.serving.loaders import ModelHandle

router = APIRouter(route_class=RoleFirstRoute, prefix="/v2", tags=["open-inference-protocol"])

_DATATYPE_OF = {"double": "FP64", "float": "FP32", "long": "INT64", "integer": "INT32",
                "boolean": "BOOL", "string": "BYTES", "binary": "BYTES"}
_DATATYPES = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
              "FP16", "FP32", "FP64", "BYTES"}


class Tensor(BaseModel):
    name: str = Field(..., min_length=1, max_length=256)
    shape: list[int] = Field(..., min_length=1, max_length=2)
    datatype: str
    data: list[Any]
    parameters: dict[str, Any] | None = None


class InferRequest(BaseModel):
    id: str | None = Field(None, max_length=128)
    inputs: list[Tensor] = Field(..., min_length=1, max_length=1024)
    parameters: dict[str, Any] | None = None
    outputs: list[dict[str, Any]] | None = None


def _service(request: Request) -> ServingService:
    return runtime_of(request).serving


#: The datatypes a value-derived one can be reported as: integers fit any number type.
_FITS = {"BOOL": {"BOOL"}, "INT64": {"INT64", "INT32", "FP64", "FP32"},
         "FP64": {"FP64", "FP32"}, "BYTES": {"BYTES"}}


def _values_datatype(values: list[Any]) -> str:
    types = set(map(type, values))  # one C loop for the usual exact bools, ints, floats
    if types <= {bool}:
        return "BOOL"
    if types <= {int}:
        return "INT64"
    if types <= {int, float}:
        return "FP64"
    if all(isinstance(v, bool) for v in values):
        return "BOOL"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "INT64"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "FP64"
    return "BYTES"


def _declared_datatype(handle: ModelHandle) -> str | None:
    """The output datatype the model's signature (or the model itself) declares."""
    return _DATATYPE_OF.get(handle.output_type or "")


def _output_datatype(values: list[Any], declared: str | None) -> str:
    """The declared datatype, which the metadata reports too, when the values fit it."""
    found = _values_datatype(values)
    return declared if declared in _FITS[found] else found


async def _primary(request: Request, caller: Caller, name: str):  # type: ignore[no-untyped-def]
    service = _service(request)
    spec = await service.endpoint(caller.project, name)
    version = await service.resolve(caller.project, spec.model_name, spec.model_ref)
    return spec, await service.loaded(caller.project, spec.model_name, version, spec)


@router.get("/models/{name}/ready")
async def model_ready(name: str, request: Request, caller: Caller = AsViewer) -> dict[str, Any]:
    _spec, loaded = await _primary(request, caller, name)
    return {"name": name, "ready": True, "version": str(loaded.version)}


@router.get("/models/{name}")
async def model_metadata(name: str, request: Request,
                         caller: Caller = AsViewer) -> dict[str, Any]:
    _spec, loaded = await _primary(request, caller, name)
    columns: list[Column] = loaded.handle.columns or []
    return {
        "name": name, "versions": [str(loaded.version)],
        "platform": f"triops-{loaded.handle.format}",
        "inputs": [{"name": c.name, "datatype": _DATATYPE_OF.get(c.type or "", "FP64"),
                    "shape": [-1]} for c in columns],
        # Unknown until a prediction says otherwise: models without a declared output
        # type are usually regressors.
        "outputs": [{"name": "predict", "shape": [-1],
                     "datatype": _declared_datatype(loaded.handle) or "FP64"}],
    }


@router.post("/models/{name}/infer")
async def infer(name: str, request: Request, caller: Caller = AsEditor) -> Response:
    return await serve_infer(request, caller, name)


async def _infer_request(request: Request) -> InferRequest:
    """The body as a request: from the value the input guard read, when it read one (a
    tensor's data is a list of anything, which pydantic takes as it is from a value but
    reads number by number from text), from the text otherwise."""
    checked = checked_json(request.scope)
    if checked is not NOT_READ:
        try:
            return InferRequest.model_validate(checked)
        except ValidationError:
            pass  # refused: the text is read below, for pydantic's words about JSON
    try:
        return InferRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"OIP request field '{where}': {first['msg']}") from None


async def serve_infer(request: Request, caller: Caller, name: str) -> Response:
    """The ``infer`` route's work, called by the route and by ``oip_shortcut``."""
    body = await _infer_request(request)
    for t in body.inputs:
        if t.datatype not in _DATATYPES:
            raise InvalidInput(f"input '{t.name}': unknown datatype '{t.datatype}'")
        if any(d < 0 for d in t.shape):
            raise InvalidInput(f"input '{t.name}': shape {t.shape} must not be negative")
    request_id = body.id or request.state.request_id
    service = _service(request)
    result = await service.predict(
        caller.project, name, lambda signature: from_tensors(body.inputs, signature),
        request_id)
    spec = await service.endpoint(caller.project, name)
    served = await service.loaded(caller.project, spec.model_name, result.version, spec)
    out = {
        "model_name": name, "model_version": str(result.version), "id": request_id,
        "parameters": {"served_by": result.served_by},
        "outputs": [{"name": "predict", "shape": [len(result.outputs)],
                     "datatype": _output_datatype(result.outputs,
                                                  _declared_datatype(served.handle)),
                     "data": result.outputs}],
    }
    return Response(orjson.dumps(out), media_type="application/json")
