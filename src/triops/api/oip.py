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


def _is_str(value: Any, longest: int) -> bool:
    return type(value) is str and len(value) <= longest


def _plain_tensor(t: Any) -> Tensor | None:
    if type(t) is not dict:
        return None
    name, shape, datatype, data = t.get("name"), t.get("shape"), t.get("datatype"), t.get("data")
    parameters = t.get("parameters")
    if not (_is_str(name, 256) and name and type(shape) is list and 1 <= len(shape) <= 2
            and all(type(d) is int for d in shape) and type(datatype) is str
            and type(data) is list and (parameters is None or type(parameters) is dict)):
        return None
    return Tensor.model_construct(name=name, shape=shape, datatype=datatype, data=data,
                                  parameters=parameters)


def _plain_request(value: Any) -> InferRequest | None:
    """``InferRequest`` as pydantic would read it from ``value`` (a body the input guard
    read), built without pydantic walking every value of the tensors again, when every
    field has exactly its declared type; None for anything else, which pydantic reads
    and, where it must, refuses in its own words."""
    if type(value) is not dict:
        return None
    request_id, inputs = value.get("id"), value.get("inputs")
    parameters, outputs = value.get("parameters"), value.get("outputs")
    if not ((request_id is None or _is_str(request_id, 128)) and type(inputs) is list
            and 1 <= len(inputs) <= 1024 and (parameters is None or type(parameters) is dict)
            and (outputs is None or type(outputs) is list
                 and all(type(o) is dict for o in outputs))):
        return None
    tensors = [_plain_tensor(t) for t in inputs]
    if any(t is None for t in tensors):
        return None
    return InferRequest.model_construct(id=request_id, inputs=tensors, parameters=parameters,
                                        outputs=outputs)


async def _infer_request(request: Request) -> InferRequest:
    checked = checked_json(request.scope)
    plain = None if checked is NOT_READ else _plain_request(checked)
    if plain is not None:
        return plain
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
