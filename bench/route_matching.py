"""Route matching per request: triops' prefix-guarded routers vs FastAPI's plain inclusion.

  .venv/bin/python bench/route_matching.py [--reps 2000]

Builds the real app (an embedded store in a temp folder) and, beside it, a FastAPI app
that includes the same routers the plain way; then times the app's own dispatch loop
(``route.matches`` over the top-level routes until the first full match) for a few
paths early and late in the route list. Matching only: no handler runs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from fastapi import FastAPI
from starlette.routing import Match

from triops.core.settings import Settings
from triops.server.app import ROUTERS, create_app
from triops.server.runtime import Runtime

PATHS = (("POST", "/v1/chat/completions"), ("GET", "/healthz"),
         ("POST", "/api/2.0/mlflow/runs/log-metric"), ("POST", "/v1/traces"),
         ("GET", "/ui/ml/endpoints/churn"))


def dispatch_us(app: FastAPI, method: str, path: str, reps: int) -> float:
    scope = {"type": "http", "method": method, "path": path, "root_path": "",
             "query_string": b"", "headers": []}
    start = time.perf_counter()
    for _ in range(reps):
        for route in app.router.routes:
            if route.matches(dict(scope))[0] is Match.FULL:
                break
    return (time.perf_counter() - start) / reps * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        rt = Runtime.build(Settings(store=f"sqlite:///{home}/t.db",
                                    artifacts=f"{home}/artifacts", home=Path(home)))
        guarded = create_app(rt)
        plain = FastAPI()
        for router in ROUTERS:
            plain.include_router(router)
        print(f"{'path':40} {'plain µs':>10} {'guarded µs':>11} {'ratio':>6}")
        for method, path in PATHS:
            before = dispatch_us(plain, method, path, args.reps)
            after = dispatch_us(guarded, method, path, args.reps)
            print(f"{method + ' ' + path:40} {before:10.1f} {after:11.1f} {before / after:6.1f}")
        rt.close()


if __name__ == "__main__":
    main()
