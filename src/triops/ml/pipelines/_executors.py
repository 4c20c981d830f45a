"""Where a step's function runs: in this process, or as a task on a Ray cluster.

Every executor has one method, ``call(step, kwargs) -> result``, and says in ``slots``
how many steps it may run at once (the runner calls it from that many threads); caching
and recording stay in the runner, so both executors behave the same apart from where
code runs.
Executors are classes made with the address of where to run, registered in
:data:`EXECUTORS`; other packages add theirs through the ``triops.pipeline_executors``
entry-point group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from triops.core.errors import ConfigError
from triops.core.registry import Registry
from triops.ml.pipelines._graph import Step


class Executor(Protocol):
    name: str
    slots: int

    def call(self, step: Step, kwargs: dict[str, Any]) -> Any: ...


class LocalExecutor:
    name = "local"
    #: Steps share this process, and user code need not be thread-safe: one at a time.
    slots = 1

    def __init__(self, address: str | None = None) -> None:
        del address  # this process is the only place a local executor runs

    def call(self, step: Step, kwargs: dict[str, Any]) -> Any:
        return step.fn(**kwargs)


def _invoke(fn: Any, kwargs: dict[str, Any]) -> Any:
    return fn(**kwargs)


class RayExecutor:
    """Runs each step as a Ray task (``pip install 'triops[ray]'``).

    ``address`` is handed to ``ray.init``: ``None`` starts or joins a local instance,
    ``"auto"`` or ``ray://host:port`` joins a cluster.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("the ray executor needs Ray: pip install 'triops[ray]'") from None
        self._ray = ray
        if not ray.is_initialized():
            ray.init(address=address, num_cpus=num_cpus, include_dashboard=False,
                     ignore_reinit_error=True, log_to_driver=False)
        self._remote = ray.remote(_invoke)
        #: Independent steps run side by side, up to one per CPU of the cluster.
        self.slots = max(1, int(ray.cluster_resources().get("CPU", 1)))

    def call(self, step: Step, kwargs: dict[str, Any]) -> Any:
        return self._ray.get(self._remote.remote(step.fn, kwargs))


#: Every executor by name: a factory taking the address of where to run.
EXECUTORS: Registry[Callable[[str | None], Executor]] = Registry(
    "executor", group="triops.pipeline_executors")
EXECUTORS.register(LocalExecutor)
EXECUTORS.register(RayExecutor)


def make_executor(name: str, address: str | None = None) -> Executor:
    return EXECUTORS.get(name)(address)
