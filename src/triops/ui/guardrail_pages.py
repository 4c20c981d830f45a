"""``/ui/llm/guardrails``: block rate per rule over time, rules in force, totals."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse

from triops.core.ids import now_ms
from triops.llm import block_rates
from triops.server.auth import AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.ui import charts
from triops.ui.rendering import render

router = APIRouter(route_class=RoleFirstRoute, prefix="/ui/llm", include_in_schema=False)

WINDOWS = {"1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000}
_BUCKETS = 48


@router.get("/guardrails", response_class=HTMLResponse)
def guardrails_page(request: Request, window: str = "24h", caller: Caller = AsViewer
                    ) -> HTMLResponse:
    if window not in WINDOWS:
        window = "24h"
    runtime = runtime_of(request)
    end = now_ms() + 1
    span = WINDOWS[window]
    with runtime.db.read() as session:
        rates = block_rates(session, caller.project, end - span, end, span // _BUCKETS)
    panels = [(f"{r['rule']}: block rate", charts.line_chart(
        [(p["start_ms"], p["rate"]) for p in r["points"]], width=640, height=200,
        title=f"block rate of {r['rule']}")) for r in rates]
    rules = runtime.gateway.guardrails.rules
    return render(request, "llm_guardrails.html", rates=rates, panels=panels, rules=rules,
                  window=window, windows=list(WINDOWS))
