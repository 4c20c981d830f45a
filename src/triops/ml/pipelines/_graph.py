"""A pipeline is a graph of Python functions with declared inputs and outputs.

>>> p = Pipeline("double_then_add", params=["x"])
>>> @p.step(inputs=["x"], outputs=["doubled"])
... def double(x):
...     return x * 2
>>> @p.step(inputs=["doubled", "x"], outputs=["total"])
... def add(doubled, x):
...     return doubled + x
>>> [s.name for s in p.order()]
['double', 'add']
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from triops.core.errors import InvalidInput


@dataclass(frozen=True)
class Step:
    name: str
    fn: Callable[..., Any]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    version: str
    cache: bool

    def code_hash(self) -> str:
        """Changes whenever the function's source (or its declared version) changes."""
        try:
            code = inspect.getsource(self.fn)
        except (OSError, TypeError):
            code = self.fn.__code__.co_code.hex()
        return hashlib.sha256(f"{self.version}\x1f{code}".encode()).hexdigest()

    def split(self, result: Any) -> dict[str, Any]:
        """A step returns its one output, or a dict / tuple of its several outputs."""
        if len(self.outputs) == 1:
            return {self.outputs[0]: result}
        if isinstance(result, dict) and set(result) == set(self.outputs):
            return dict(result)
        if isinstance(result, tuple) and len(result) == len(self.outputs):
            return dict(zip(self.outputs, result, strict=True))
        raise InvalidInput(f"step {self.name!r} must return {list(self.outputs)} "
                           f"(a dict or tuple of them), got {type(result).__name__}")


class Pipeline:
    def __init__(self, name: str, params: Sequence[str] = (), description: str = "") -> None:
        if not name:
            raise InvalidInput("a pipeline needs a name")
        self.name = name
        self.params = tuple(params)
        self.description = description
        self.steps: list[Step] = []

    def step(self, *, inputs: Sequence[str] = (), outputs: Sequence[str] = (),
             version: str = "1", name: str | None = None, cache: bool = True
             ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a function as a step; inputs are params or earlier steps' outputs."""
        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            step = Step(name=name or fn.__name__, fn=fn, inputs=tuple(inputs),
                        outputs=tuple(outputs) or (name or fn.__name__,), version=version,
                        cache=cache)
            if any(s.name == step.name for s in self.steps):
                raise InvalidInput(f"pipeline {self.name!r} already has a step {step.name!r}")
            self.steps.append(step)
            return fn
        return decorate

    def order(self) -> list[Step]:
        """Steps in an order where each runs after every step it needs."""
        producer: dict[str, str] = {}
        for s in self.steps:
            for out in s.outputs:
                if out in producer or out in self.params:
                    raise InvalidInput(f"output {out!r} of step {s.name!r} is declared twice")
                producer[out] = s.name
        for s in self.steps:
            for needed in s.inputs:
                if needed not in producer and needed not in self.params:
                    raise InvalidInput(f"step {s.name!r} needs {needed!r}, which no step "
                                       f"produces and is not a pipeline parameter")
        done: set[str] = set()
        ordered: list[Step] = []
        pending = list(self.steps)
        while pending:
            ready = [s for s in pending
                     if all(i in self.params or producer[i] in done for i in s.inputs)]
            if not ready:
                raise InvalidInput(f"steps {[s.name for s in pending]} depend on each other "
                                   "in a cycle")
            for s in ready:
                ordered.append(s)
                done.add(s.name)
                pending.remove(s)
        return ordered


#: triops' own pipelines (the fine-tuning recipes), loadable on every server.
BUILT_IN_MODULES = frozenset({"triops.ml.fine_tuning.recipes"})


def registered_modules(configured: Iterable[str]) -> frozenset[str]:
    """Modules whose pipelines may be loaded: triops' own, the ``pipeline_modules``
    setting, and every module named in the ``triops.pipelines`` entry-point group of
    installed packages."""
    found = set(BUILT_IN_MODULES) | {m.strip() for m in configured if m.strip()}
    found.update(ep.module for ep in metadata.entry_points(group="triops.pipelines"))
    return frozenset(found)


def load(ref: str, modules: Collection[str]) -> Pipeline:
    """Import ``module:attribute`` and return the pipeline it names.

    Only a module in ``modules`` (or inside a package there) is imported: importing runs
    the module's code, so a reference may not name just any installed module.
    """
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise InvalidInput(f"pipeline reference {ref!r} must look like MODULE:PIPELINE")
    if not any(module_name == m or module_name.startswith(m + ".") for m in modules):
        raise InvalidInput(
            f"module {module_name!r} is not registered pipeline code; add it to the "
            "pipeline_modules setting (TRIOPS_PIPELINE_MODULES) or to the "
            "'triops.pipelines' entry points of its package", code="PIPELINE_NOT_REGISTERED")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInput(
            f"cannot import module {module_name!r}: {exc}. The server imports pipeline code "
            "in its own Python environment: install the module's package (and what it "
            "imports) there, or upload the file with `triops pipeline register NAME FILE.py`"
        ) from None
    found = getattr(module, attr, None)
    if not isinstance(found, Pipeline):
        raise InvalidInput(f"{ref!r} is not a triops Pipeline")
    return found
