"""What every demo loop gets: an HTTP client on the demo server, a way to report
progress, the approval policy, and what a loop hands back."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from rich.console import Console

from triops.core.errors import TriopsError

T = TypeVar("T")


class LoopFailed(TriopsError):
    """A demo loop did not close; the message says which step and why."""

    code = "DEMO_LOOP_FAILED"


@dataclass
class LoopResult:
    """How one loop ended; times are the server's milliseconds."""

    name: str
    closed: bool
    summary: str
    first_signal_ms: int | None = None
    remediated_ms: int | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds_to_remediation(self) -> float | None:
        if self.first_signal_ms is None or self.remediated_ms is None:
            return None
        return (self.remediated_ms - self.first_signal_ms) / 1000


@dataclass
class DemoContext:
    http: httpx.Client
    url: str
    console: Console
    auto_approve: bool
    #: How long a loop waits for any one step before it counts as not closed.
    step_timeout_s: float = 90.0

    def say(self, loop: str, message: str) -> None:
        self.console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] [bold cyan]{loop:>5}[/] "
                           f"{message}", highlight=False)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One API call; anything but 2xx stops the loop with the server's answer."""
        reply = self.http.request(method, path, **kwargs)
        if not reply.is_success:
            raise LoopFailed(f"{method} {path} answered {reply.status_code}: {reply.text}")
        json_body = reply.headers.get("content-type", "").startswith("application/json")
        return reply.json() if reply.content and json_body else None

    def wait_for(self, what: str, probe: Callable[[], T | None],
                 every_s: float = 0.25, tick: Callable[[], None] | None = None) -> T:
        """Poll ``probe`` until it returns something; ``tick`` runs between polls (a loop's
        traffic or monitor keeps going while it waits)."""
        deadline = time.monotonic() + self.step_timeout_s
        while True:
            found = probe()
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise LoopFailed(f"waited {self.step_timeout_s:.0f}s for {what}")
            if tick is not None:
                tick()
            time.sleep(every_s)

    def put_runbook(self, name: str, source: str) -> None:
        self.call("PUT", f"/api/v1/runbooks/{name}", content=source.encode(),
                  headers={"Content-Type": "application/yaml"})

    def run_of(self, incident_id: str) -> dict[str, Any] | None:
        runs = self.call("GET", "/api/v1/runbook-runs", params={"incident_id": incident_id})
        return runs[0] if runs else None

    def see_run_through(self, loop: str, incident_id: str,
                        tick: Callable[[], None] | None = None) -> dict[str, Any]:
        """Wait for the runbook run of an incident, approve it (or wait for a person to),
        and follow it until it finishes; returns the finished run."""
        run = self.wait_for("a runbook run on the incident",
                            lambda: self.run_of(incident_id), tick=tick)
        for step in run["plan"]:
            for change in step["changes"]:
                self.say(loop, f"plan: {step['action']}: {change['target']} {change['what']}: "
                               f"{change['before']} → {change['after']}")
        if run["status"] == "pending_approval":
            if self.auto_approve:
                run = self.call("POST", f"/api/v1/runbook-runs/{run['id']}/approve",
                                json={"note": "approved by triops demo --auto-approve"})
                self.say(loop, f"run {run['id']} approved (by {run['decided_by']})")
            else:
                self.say(loop, f"[yellow]run {run['id']} waits for approval[/]: approve it on "
                               f"the incident page ({self.url}/ui/incidents/{incident_id}) or "
                               f"with `triops runbooks approve {run['id']}`")
                self.step_timeout_s, waited = 3600.0, self.step_timeout_s
                try:
                    self.wait_for("an approval", lambda: self._decided(run["id"]), tick=tick)
                finally:
                    self.step_timeout_s = waited
        elif run["status"] == "refused":
            raise LoopFailed(f"runbook {run['runbook']} refused to act: {run['reason']}")
        last = {"status": ""}

        def finished() -> dict[str, Any] | None:
            current = self.call("GET", f"/api/v1/runbook-runs/{run['id']}")
            if current["status"] != last["status"]:
                last["status"] = current["status"]
                self.say(loop, f"run {current['status']}: {current['reason']}")
            return current if current["finished_ms"] is not None else None

        return self.wait_for("the runbook run to finish", finished, tick=tick)

    def _decided(self, run_id: str) -> dict[str, Any] | None:
        run = self.call("GET", f"/api/v1/runbook-runs/{run_id}")
        return run if run["status"] != "pending_approval" else None
