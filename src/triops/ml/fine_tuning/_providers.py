"""Who trains: a provider takes a training file and a base model and reports back.

``OpenAIFineTuning`` drives any upstream that offers OpenAI's Files and fine-tuning API
(OpenAI itself, or the local upstream's fake); ``PipelineFineTuning`` (``_pipeline.py``)
runs a registered triops pipeline. A provider implements ``FineTuningProvider``; the
upstream kinds that can train are registered in ``PROVIDERS`` by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from triops.core.errors import UpstreamError


@dataclass(frozen=True)
class UpstreamSpec:
    """Where a job trains: an upstream of the gateway and the base model it knows."""

    name: str
    base_url: str
    model: str
    api_key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 30.0


class FineTuningProvider(Protocol):
    def submit(self, training: bytes, filename: str, *, hyperparameters: dict[str, Any],
               suffix: str | None, seed: int | None) -> dict[str, Any]:
        """Start a job; the provider's job object (OpenAI's shape)."""

    def status(self, job_id: str) -> dict[str, Any]:
        """The provider's job object as it is now."""

    def events(self, job_id: str) -> list[dict[str, Any]]:
        """Every event of the job, in any order (each with a stable ``id``)."""

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Ask the provider to stop the job; its job object."""

    def model_source(self, fine_tuned_model: str, run_id: str) -> str:
        """Where the registered model version says the model is (the job's ML run is
        ``run_id``)."""


class OpenAIFineTuning:
    def __init__(self, spec: UpstreamSpec) -> None:
        headers = dict(spec.headers)
        if spec.api_key:
            headers["Authorization"] = f"Bearer {spec.api_key}"
        self.spec = spec
        self.client = httpx.Client(base_url=spec.base_url.rstrip("/"), headers=headers,
                                   timeout=spec.timeout_s)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"upstream {self.spec.name!r} did not answer {method} {path}: "
                                f"{exc}") from None
        if response.status_code >= 400:
            try:
                detail = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                detail = response.text[:500]
            raise UpstreamError(f"upstream {self.spec.name!r} answered {method} {path} with "
                                f"{response.status_code}: {detail}")
        return response.json()

    def submit(self, training: bytes, filename: str, *, hyperparameters: dict[str, Any],
               suffix: str | None, seed: int | None) -> dict[str, Any]:
        uploaded = self._call("POST", "/files", data={"purpose": "fine-tune"},
                              files={"file": (filename, training, "application/jsonl")})
        body: dict[str, Any] = {"model": self.spec.model, "training_file": uploaded["id"]}
        if hyperparameters:
            body["hyperparameters"] = hyperparameters
        if suffix:
            body["suffix"] = suffix
        if seed is not None:
            body["seed"] = seed
        return self._call("POST", "/fine_tuning/jobs", json=body)

    def status(self, job_id: str) -> dict[str, Any]:
        return self._call("GET", f"/fine_tuning/jobs/{job_id}")

    def events(self, job_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        after: str | None = None
        for _ in range(100):  # pages of 100: enough for any job's log
            params: dict[str, Any] = {"limit": 100, **({"after": after} if after else {})}
            page = self._call("GET", f"/fine_tuning/jobs/{job_id}/events", params=params)
            data = page.get("data") or []
            found.extend(data)
            if not page.get("has_more") or not data:
                break
            after = data[-1]["id"]
        return found

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._call("POST", f"/fine_tuning/jobs/{job_id}/cancel")

    def model_source(self, fine_tuned_model: str, run_id: str) -> str:
        return f"gateway:{self.spec.name}/{fine_tuned_model}"


PROVIDERS: dict[str, type] = {"openai": OpenAIFineTuning}


def provider_for(spec: UpstreamSpec, kind: str = "openai") -> FineTuningProvider:
    cls = PROVIDERS.get(kind)
    if cls is None:
        from triops.core.errors import InvalidInput

        raise InvalidInput(f"upstream {spec.name!r} is a {kind!r} upstream; fine-tuning runs "
                           f"on {', '.join(sorted(PROVIDERS))} upstreams")
    return cls(spec)
