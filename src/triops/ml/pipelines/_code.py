"""Pipeline code registered as a file: stored by its SHA-256, run only with those bytes.

An admin uploads a Python file (``triops pipeline register NAME FILE.py``); the server
keeps its bytes in the artifact store under their SHA-256 and records the reference
``code:<sha256>:<attribute>``. Every load reads the bytes back and runs them only when
their digest is still the one recorded, so bytes swapped in the artifact store later are
refused, like model files trusted by digest. Module references (``MODULE:PIPELINE``) go
through :func:`load` and its ``pipeline_modules`` allow-list, as before.

>>> code_ref("ab" * 32, "train")[:12]
'code:abababa'
"""

from __future__ import annotations

import hashlib
import linecache
import re
import sys
import threading
import types
from collections.abc import Collection
from typing import Any

from triops.core.errors import InvalidInput, NotFound
from triops.ml.pipelines._graph import Pipeline, load
from triops.store.artifacts import ArtifactStore

CODE_PREFIX = "code:"
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_ATTRIBUTE = re.compile(r"^[A-Za-z_]\w*$")
_loaded: dict[str, types.ModuleType] = {}
_lock = threading.Lock()


def code_ref(digest: str, attribute: str) -> str:
    return f"{CODE_PREFIX}{digest}:{attribute}"


def code_digest(ref: str) -> str | None:
    """The SHA-256 a code reference is bound to (None for a module reference)."""
    if not ref.startswith(CODE_PREFIX):
        return None
    return ref[len(CODE_PREFIX):].partition(":")[0]


def _path(project: str, digest: str) -> str:
    return f"pipelines/{project}/{digest}.py"


def _module(source: bytes, digest: str) -> types.ModuleType:
    """Run the file once per process, as a module named after its digest."""
    with _lock:
        if digest in _loaded:
            return _loaded[digest]
        try:
            text = source.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("a pipeline file must be UTF-8 Python source") from None
        name = f"triops_pipeline_{digest[:16]}"
        filename = f"<triops pipeline {digest[:12]}>"
        # Registered so that inspect.getsource (each step's code hash) finds the source.
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
        module = types.ModuleType(name)
        module.__file__ = filename
        sys.modules[name] = module
        try:
            exec(compile(text, filename, "exec"), module.__dict__)  # noqa: S102 - admin-trusted, digest-checked
        except ImportError as exc:
            sys.modules.pop(name, None)
            raise InvalidInput(
                f"the pipeline file imports what the server's Python does not have: {exc}. "
                "Install that package in the server's environment (see docs/monitoring.md)"
            ) from None
        except SyntaxError as exc:
            sys.modules.pop(name, None)
            raise InvalidInput(f"the pipeline file is not valid Python: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - any failure of user code is the file's
            sys.modules.pop(name, None)
            raise InvalidInput(f"the pipeline file raised {type(exc).__name__} when "
                               f"loaded: {exc}") from None
        _pickle_by_value(module)
        _loaded[digest] = module
        return module


def _pickle_by_value(module: types.ModuleType) -> None:
    # Ray workers cannot import a module that exists only in this process: its steps
    # travel by value instead.
    try:
        import cloudpickle
    except ImportError:
        return
    cloudpickle.register_pickle_by_value(module)


def _pipeline_in(module: types.ModuleType, attribute: str | None) -> tuple[str, Pipeline]:
    if attribute is not None:
        found = getattr(module, attribute, None)
        if not isinstance(found, Pipeline):
            raise InvalidInput(f"the pipeline file has no triops Pipeline named {attribute!r}")
        return attribute, found
    pipelines = [(k, v) for k, v in vars(module).items() if isinstance(v, Pipeline)]
    if len(pipelines) != 1:
        names = ", ".join(k for k, _ in pipelines) or "none"
        raise InvalidInput(f"the pipeline file defines {len(pipelines)} pipelines ({names}): "
                           "name the one to register")
    return pipelines[0]


def store_code(artifacts: ArtifactStore, project: str, source: bytes,
               attribute: str | None = None) -> tuple[str, Pipeline]:
    """Load the file's pipeline and keep its bytes; answers its reference and the pipeline."""
    if attribute is not None and not _ATTRIBUTE.match(attribute):
        raise InvalidInput(f"pipeline {attribute!r} is not a Python name")
    digest = hashlib.sha256(source).hexdigest()
    attribute, pipeline = _pipeline_in(_module(source, digest), attribute)
    artifacts.write_bytes(_path(project, digest), source)
    return code_ref(digest, attribute), pipeline


def load_registered(ref: str, modules: Collection[str], artifacts: ArtifactStore,
                    project: str) -> Pipeline:
    """The pipeline a registration names: its uploaded file (digest checked) or its module."""
    digest = code_digest(ref)
    if digest is None:
        return load(ref, modules)
    attribute = ref[len(CODE_PREFIX):].partition(":")[2]
    if not _DIGEST.match(digest) or not _ATTRIBUTE.match(attribute):
        raise InvalidInput(f"pipeline reference {ref!r} is malformed")
    with _lock:
        module: Any = _loaded.get(digest)
    if module is None:
        try:
            source = artifacts.read_bytes(_path(project, digest))
        except (FileNotFoundError, NotFound):
            raise NotFound(f"the file of pipeline code {digest[:12]} is missing from the "
                           "artifact store: register it again") from None
        if hashlib.sha256(source).hexdigest() != digest:
            raise InvalidInput(
                f"the stored pipeline file no longer has SHA-256 {digest[:12]}…: it was "
                "changed after an admin registered it and will not run; register it again",
                code="PIPELINE_CODE_CHANGED")
        module = _module(source, digest)
    return _pipeline_in(module, attribute)[1]
