"""Turning a registered model's files into something that predicts, through safe formats.

One protocol, ``ModelLoader``, and one registry, ``LOADERS``, declared here. A loader
says whether it ``accepts`` a model's files and ``load``s them into a ``ModelHandle``.
Users add their own with ``register_loader`` or through the ``triops.model_loaders``
entry-point group; added loaders are tried before the built-in ones.

Safe by default: skops, ONNX and the native XGBoost/LightGBM formats never run code
from the file. A skops file is audited before it is loaded: every type it names must be
trusted by skops itself or be on ``SKOPS_REVIEWED_TYPES``; any other type (a callable
such as ``builtins.exec`` among them) is refused by name. A pickle (MLflow's default
``cloudpickle`` serialization) runs whatever its author put in it, so it is refused
before a single byte is unpickled. Both limits can be lifted only by an admin's
``Trust``, which names the extra types (or pickle) and is bound to the SHA-256 of the
files it was granted for: a file swapped afterwards is refused again. The MLmodel file
is parsed here as plain YAML: ``mlflow.pyfunc.load_model`` is never called, because it
would unpickle without asking.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import posixpath
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import yaml

from triops.core.errors import InvalidInput, NotFound
from triops.core.registry import Registry
from triops.ml.serving.linear import compile_linear
from triops.ml.serving.trees import check_trees, compile_trees
from triops.store.artifacts import ArtifactStore, safe_relpath

#: Types a skops file may hold beyond those skops trusts by default (its estimators,
#: arrays and containers), each reviewed by name: constructing one runs no code chosen by
#: the file. Decision trees (``sklearn.tree._tree.Tree``, which skops leaves untrusted
#: because scikit-learn follows their node indices without bounds checks) are here
#: because every tree is bounds-checked at load (``trees``). The numpy scalar and dtype
#: types are data; older skops releases report them. Never add a callable, a module
#: function or a type whose construction imports or evaluates something by name.
SKOPS_REVIEWED_TYPES: frozenset[str] = frozenset({
    "sklearn.tree._tree.Tree",
    "numpy.dtype", "numpy.bool_", "numpy.float16", "numpy.float32", "numpy.float64",
    "numpy.int8", "numpy.int16", "numpy.int32", "numpy.int64",
    "numpy.uint8", "numpy.uint16", "numpy.uint32", "numpy.uint64",
})
_PROXY_SCHEME = "mlflow-artifacts:"


@dataclass(frozen=True)
class Column:
    """One input field of a model's signature; ``type`` is MLflow's name or None (any)."""

    name: str
    type: str | None = None
    required: bool = True


@dataclass
class ModelHandle:
    """A loaded model: ``predict`` takes a DataFrame and returns one output per row."""

    predict: Callable[[pd.DataFrame], list[Any]]
    columns: list[Column] | None
    format: str
    #: Optional fast path that skips pandas: float64 rows with columns in
    #: ``matrix_columns`` order -> one output per row. Used when every value is numeric.
    predict_matrix: Callable[[np.ndarray], list[Any]] | None = None
    matrix_columns: list[str] | None = None
    #: MLflow's type name of each output (``long``, ``double``, ``string``...) when the
    #: signature or the model says it; None when only the outputs will tell.
    output_type: str | None = None
    #: The loaded object itself (an estimator, an ONNX session), which explainers read.
    native: Any = None


class ModelFiles:
    """The files of one model version in the artifact store, read-only."""

    def __init__(self, store: ArtifactStore, root: str) -> None:
        self.store = store
        self.root = safe_relpath(root)
        entries = store.list(self.root)
        if entries:
            self.names = sorted(posixpath.basename(e.path) for e in entries if not e.is_dir)
        else:
            # The location may name a single model file rather than a folder.
            self.root, name = posixpath.split(self.root)
            siblings = {posixpath.basename(e.path) for e in store.list(self.root)
                        if not e.is_dir} if name else set()
            self.names = [name] if name in siblings else []
        if not self.names:
            raise NotFound(f"no model files found at '{root}' in the artifact store")

    def read(self, name: str) -> bytes:
        return self.store.read_bytes(posixpath.join(self.root, safe_relpath(name)))

    def with_suffix(self, *suffixes: str) -> str | None:
        return next((n for n in self.names if n.endswith(suffixes)), None)

    def digests(self) -> set[str]:
        """SHA-256 of every file: what an admin's trust is bound to."""
        return {digest(self.read(name)) for name in self.names}


def artifact_root(storage_location: str, project: str) -> str:
    """Where a version's files live in the artifact store, from its storage location."""
    if storage_location.startswith(_PROXY_SCHEME):
        rest = storage_location[len(_PROXY_SCHEME):].lstrip("/")
        return f"mlflow/{project}/{safe_relpath(rest)}"
    raise InvalidInput(
        f"model files at '{storage_location}' are not in this server's artifact store; "
        "log the model through this server (MLFLOW_TRACKING_URI) and register it again")


class UntrustedModel(InvalidInput):
    code = "UNTRUSTED_MODEL_FORMAT"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Trust:
    """What an admin trusted beyond the reviewed defaults, for the files in ``files``.

    ``types`` are extra skops type names; ``pickle`` allows pickle-serialized models;
    ``files`` holds the SHA-256 (hex) of every file the trust was granted for. A file
    whose digest is not there gets no trust at all, so replacing a model's bytes after
    an admin trusted them voids the trust.
    """

    types: frozenset[str] = frozenset()
    pickle: bool = False
    files: frozenset[str] = field(default_factory=frozenset)

    def for_file(self, data: bytes) -> Trust:
        """This trust if it was granted for exactly these bytes, else none."""
        return self if digest(data) in self.files else NO_TRUST


NO_TRUST = Trust()


@runtime_checkable
class ModelLoader(Protocol):
    """One family of model files. ``accepts`` must be cheap and must not deserialize."""

    format: str

    def accepts(self, files: ModelFiles) -> bool: ...

    def load(self, files: ModelFiles, *, trust: Trust) -> ModelHandle: ...


def _as_list(values: Any) -> list[Any]:
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    return arr.tolist()


#: numpy dtype kinds and ONNX element types as MLflow's type names.
_KIND_TYPES = {"i": "long", "u": "long", "f": "double", "b": "boolean", "U": "string"}
_ONNX_TYPES = {"tensor(float)": "float", "tensor(double)": "double", "tensor(int64)": "long",
               "tensor(int32)": "integer", "tensor(bool)": "boolean",
               "tensor(string)": "string"}


def _dtype_type(dtype: Any) -> str | None:
    try:
        return _KIND_TYPES.get(np.dtype(dtype).kind)
    except TypeError:
        return None


def _sklearn_output_type(model: Any) -> str | None:
    """What ``predict`` returns: a classifier's labels have the dtype of ``classes_``, a
    regressor's predictions are numbers; anything else is left to its outputs."""
    from sklearn.base import is_classifier, is_regressor

    classes = getattr(model, "classes_", None)
    if is_classifier(model) and classes is not None:
        return _dtype_type(np.asarray(classes).dtype)
    return "double" if is_regressor(model) else None


def signature_output_type(mlmodel: dict[str, Any]) -> str | None:
    """The type of a single output named by an MLmodel ``signature.outputs``."""
    raw = (mlmodel.get("signature") or {}).get("outputs")
    if not raw:
        return None
    try:
        specs = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return None
    if not isinstance(specs, list) or len(specs) != 1 or not isinstance(specs[0], dict):
        return None
    spec = specs[0]
    if spec.get("type") == "tensor":
        return _dtype_type((spec.get("tensor-spec") or {}).get("dtype"))
    kind = spec.get("type")
    return kind if isinstance(kind, str) else None


def _feature_columns(model: Any) -> list[Column] | None:
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [Column(str(n)) for n in names]


def _skops_model(data: bytes, trust: Trust, what: str) -> Any:
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # noqa: BLE001 - any failure to parse is a bad file, not ours
        raise InvalidInput(f"{what} is not a readable skops file: {exc}"[:500]) from None
    granted = trust.for_file(data).types
    refused = sorted(set(untrusted) - SKOPS_REVIEWED_TYPES - granted)
    if refused:
        voided = " (the trust given before was for other bytes)" if trust.types and not granted \
            else ""
        raise UntrustedModel(
            f"{what} holds types that are not reviewed as safe to load: {', '.join(refused)}"
            f"{voided}. Loading them may run code chosen by the file's author; an admin who "
            "trusts this exact file may allow them with trusted_types (CLI: --trust-type)")
    try:
        return sio.loads(data, trusted=list(untrusted))
    except Exception as exc:  # noqa: BLE001 - a file that passed the audit but will not load
        raise InvalidInput(f"{what} could not be loaded: {type(exc).__name__}: {exc}"[:500]
                           ) from None


def _sklearn_handle(model: Any, columns: list[Column] | None, fmt: str) -> ModelHandle:
    predict = getattr(model, "predict", None)
    if not callable(predict):
        raise InvalidInput(f"the {fmt} file holds a {type(model).__name__}, not a model "
                           "with a predict() method")
    check_trees(model)
    compiled, kind = compile_trees(model), "trees"
    # A linear model given float32 fields reads them rounded to float32 (scikit-learn
    # keeps the DataFrame's dtype); its matrix path would not round them.
    rounded = any(c.type == "float" for c in columns or [])
    if compiled is None:
        compiled, kind = compile_linear(model), "linear"
    output_type = _sklearn_output_type(model)
    if compiled is not None:
        return ModelHandle(predict=compiled.predict, columns=columns or _feature_columns(model),
                           format=f"{fmt}+compiled-{kind}",
                           predict_matrix=None if kind == "linear" and rounded
                           else compiled.predict_matrix,
                           matrix_columns=compiled.features, output_type=output_type,
                           native=model)
    return ModelHandle(predict=lambda frame: _as_list(predict(frame)),
                       columns=columns or _feature_columns(model), format=fmt,
                       output_type=output_type, native=model)


class SkopsLoader:
    format = "skops"

    def accepts(self, files: ModelFiles) -> bool:
        return "MLmodel" not in files.names and files.with_suffix(".skops") is not None

    def load(self, files: ModelFiles, *, trust: Trust) -> ModelHandle:
        name = files.with_suffix(".skops") or ""
        model = _skops_model(files.read(name), trust, name)
        return _sklearn_handle(model, None, self.format)


class OnnxLoader:
    format = "onnx"

    def accepts(self, files: ModelFiles) -> bool:
        return "MLmodel" not in files.names and files.with_suffix(".onnx") is not None

    def load(self, files: ModelFiles, *, trust: Trust) -> ModelHandle:
        return _onnx_handle(files.read(files.with_suffix(".onnx") or ""))


def _onnx_handle(data: bytes) -> ModelHandle:
    try:
        import onnxruntime as ort
    except ImportError:
        raise InvalidInput("this is an ONNX model; install triops[onnx] to serve it") from None
    options = ort.SessionOptions()
    try:
        # Loaded from bytes, an ONNX file's external-data locations would be resolved
        # against the server's working directory; pointed at an empty folder instead,
        # any such reference fails and no file outside the model can be read (the
        # option exists since onnxruntime 1.21, the version the onnx extra requires).
        with tempfile.TemporaryDirectory(prefix="triops-onnx-") as empty:
            options.add_session_config_entry(
                "session.model_external_initializers_file_folder_path", empty)
            session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        first = session.get_inputs()[0].name
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for bad files
        raise InvalidInput(f"the ONNX file could not be loaded: {type(exc).__name__}: "
                           f"{exc}"[:500]) from None

    def predict(frame: pd.DataFrame) -> list[Any]:
        return _as_list(session.run(None, {first: frame.to_numpy(dtype=np.float32)})[0])

    return ModelHandle(predict=predict, columns=None, format="onnx",
                       output_type=_ONNX_TYPES.get(session.get_outputs()[0].type),
                       native=session)


class XGBoostLoader:
    format = "xgboost"
    _SUFFIXES = (".ubj", ".xgb", ".xgboost.json")

    def accepts(self, files: ModelFiles) -> bool:
        return "MLmodel" not in files.names and files.with_suffix(*self._SUFFIXES) is not None

    def load(self, files: ModelFiles, *, trust: Trust) -> ModelHandle:
        return _xgboost_handle(files.read(files.with_suffix(*self._SUFFIXES) or ""))


def _xgboost_handle(data: bytes) -> ModelHandle:
    try:
        import xgboost as xgb
    except ImportError:
        raise InvalidInput("this is an XGBoost model; install xgboost to serve it") from None
    booster = xgb.Booster()
    booster.load_model(bytearray(data))
    names = booster.feature_names
    return ModelHandle(predict=lambda frame: _as_list(booster.predict(xgb.DMatrix(frame))),
                       columns=[Column(n) for n in names] if names else None, format="xgboost",
                       output_type="double")


class LightGBMLoader:
    format = "lightgbm"

    def accepts(self, files: ModelFiles) -> bool:
        return "MLmodel" not in files.names and files.with_suffix(".lgb") is not None

    def load(self, files: ModelFiles, *, trust: Trust) -> ModelHandle:
        return _lightgbm_handle(files.read(files.with_suffix(".lgb") or ""))


def _lightgbm_handle(data: bytes) -> ModelHandle:
    try:
        import lightgbm as lgb
    except ImportError:
        raise InvalidInput("this is a LightGBM model; install lightgbm to serve it") from None
    booster = lgb.Booster(model_str=data.decode())
    names = booster.feature_name()
    return ModelHandle(predict=lambda frame: _as_list(booster.predict(frame)),
                       columns=[Column(n) for n in names] if names else None, format="lightgbm",
                       output_type="double")


def signature_columns(mlmodel: dict[str, Any]) -> list[Column] | None:
    """Column specs from an MLmodel ``signature.inputs`` (a JSON string), if named."""
    raw = (mlmodel.get("signature") or {}).get("inputs")
    if not raw:
        return None
    specs = json.loads(raw) if isinstance(raw, str) else raw
    if not specs or any("name" not in s for s in specs):
        return None  # a tensor signature: no named columns to check
    return [Column(str(s["name"]), s.get("type"), bool(s.get("required", True))) for s in specs]


class MlflowModelLoader:
    """A model logged through the MLflow API: its MLmodel file names flavour and format."""

    format = "mlflow"

    def accepts(self, files: ModelFiles) -> bool:
        return "MLmodel" in files.names

    def load(self, files: ModelFiles, *, trust: Trust) -> ModelHandle:
        try:
            mlmodel = yaml.safe_load(files.read("MLmodel")) or {}
        except yaml.YAMLError as exc:
            raise InvalidInput(f"the MLmodel file is not valid YAML: {exc}") from None
        flavors = mlmodel.get("flavors") or {}
        columns = signature_columns(mlmodel)
        if "sklearn" in flavors:
            handle = self._sklearn(files, flavors["sklearn"], columns, trust)
        elif "onnx" in flavors:
            handle = _onnx_handle(files.read(str(flavors["onnx"].get("data", "model.onnx"))))
        elif "xgboost" in flavors:
            handle = _xgboost_handle(files.read(str(flavors["xgboost"].get("data"))))
        elif "lightgbm" in flavors:
            handle = _lightgbm_handle(files.read(str(flavors["lightgbm"].get("data"))))
        else:
            raise InvalidInput(
                f"MLflow flavours {sorted(flavors)} cannot be served; triops serves the "
                "sklearn, onnx, xgboost and lightgbm flavours")
        handle.columns = columns or handle.columns
        handle.output_type = signature_output_type(mlmodel) or handle.output_type
        return handle

    def _sklearn(self, files: ModelFiles, flavor: dict[str, Any], columns: list[Column] | None,
                 trust: Trust) -> ModelHandle:
        fmt = str(flavor.get("serialization_format") or "cloudpickle")
        path = str(flavor.get("pickled_model") or "model.pkl")
        if fmt == "skops":
            model = _skops_model(files.read(path), trust, path)
            return _sklearn_handle(model, columns, "mlflow-sklearn-skops")
        if fmt not in ("pickle", "cloudpickle"):
            raise InvalidInput(f"unknown sklearn serialization format '{fmt}'")
        data = files.read(path)
        if not trust.for_file(data).pickle:
            voided = " (the trust given before was for other bytes)" if trust.pickle else ""
            raise UntrustedModel(
                f"the model is serialized with {fmt}, which runs arbitrary code when loaded; "
                f"refusing to load it{voided}. Log it with serialization_format=\"skops\", "
                "or have an admin who trusts this exact file deploy it with trust_pickle "
                "(CLI: --trust-pickle)")
        model = pickle.loads(data)
        return _sklearn_handle(model, columns, f"mlflow-sklearn-{fmt}")


_BUILTIN_LOADERS: tuple[ModelLoader, ...] = (
    MlflowModelLoader(), SkopsLoader(), OnnxLoader(), XGBoostLoader(), LightGBMLoader())

#: Every loader by format; plug-ins name a loader class, made once when loaded.
LOADERS: Registry[ModelLoader] = Registry(
    "model loader", group="triops.model_loaders", name_of=lambda loader: loader.format,
    plugin=lambda cls: cls())
for _loader in _BUILTIN_LOADERS:
    LOADERS.register(_loader)

#: Add a loader; it is tried before the built-in ones.
register_loader = LOADERS.register


def _in_order() -> list[ModelLoader]:
    """Added loaders first, the newest first, so that a package can take over files a
    built-in would also accept; then the built-ins in their fixed order."""
    added = [loader for _, loader in LOADERS.items() if loader not in _BUILTIN_LOADERS]
    return added[::-1] + list(_BUILTIN_LOADERS)


def load_model(files: ModelFiles, *, trust: Trust = NO_TRUST,
               loaders: Sequence[ModelLoader] | None = None) -> ModelHandle:
    for loader in loaders if loaders is not None else _in_order():
        if loader.accepts(files):
            return loader.load(files, trust=trust)
    raise InvalidInput(
        f"no loader accepts the model files {files.names}; triops serves MLflow models "
        "(MLmodel), .skops, .onnx, XGBoost (.ubj/.xgb) and LightGBM (.lgb) files")
