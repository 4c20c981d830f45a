"""triops: one self-hosted platform for MLOps, LLMOps and AIOps."""

__version__ = "0.1.0"

#: SDK names offered at the top level, imported on first use so ``import triops`` stays light.
_LAZY = {"trace": "triops.client", "span": "triops.client", "start_run": "triops.client",
         "log_dataset": "triops.client", "active_run": "triops.client",
         "prompts": "triops.client"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'triops' has no attribute {name!r}")
