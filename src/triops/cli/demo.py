"""``triops demo``: start a server on a fresh embedded store and play three closed loops
(ML, LLM, infrastructure) live; ``--check`` plays them headless and fails if one does not
close."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from triops.cli.common import StoreOpt, console, err_console, settings_from
from triops.cli.server import bootstrap_admin
from triops.core.errors import ConfigError, TriopsError
from triops.core.principals import ALL_PROJECTS, Role
from triops.server import DEFAULT_PROJECT
from triops.server import key_store as keys

if TYPE_CHECKING:
    from triops.server.runtime import Runtime


class _Server:
    """The demo's triops server, in a thread of this process."""

    def __init__(self, runtime: Runtime) -> None:
        import uvicorn

        from triops.server.app import create_app

        settings = runtime.settings
        self.url = f"http://{settings.host}:{settings.port}"
        self._server = uvicorn.Server(uvicorn.Config(
            create_app(runtime), host=settings.host, port=settings.port, log_level="warning",
            access_log=False, timeout_graceful_shutdown=2))
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="demo-server")

    def start(self) -> _Server:
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise ConfigError(f"the demo server did not start at {self.url}; is the port "
                                  "free? (--port)")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(15)


def _demo_key(runtime: Runtime) -> str:
    """A fresh admin key for the demo's calls and for logging in to the UI."""
    bootstrap_admin(runtime)
    with runtime.db.write() as session:
        return keys.create(session, project=ALL_PROJECTS, role=Role.admin,
                           name="triops demo").secret


def _free_port() -> int:
    from triops.demo._llm import free_port

    return free_port()


def demo(
    check: Annotated[bool, typer.Option(
        "--check", help="Play headless, auto-approving; exit 1 if a loop does not close")] = False,
    auto_approve: Annotated[bool, typer.Option(
        "--auto-approve", help="Approve runbook runs instead of waiting for a person")] = False,
    store: StoreOpt = None,
    home: Annotated[Path | None, typer.Option(
        "--home", help="Folder for the store and artifacts (default: a new temporary folder)",
        show_default=False)] = None,
    port: Annotated[int | None, typer.Option(
        help="Port of the demo server (default 7600; with --check a free one)")] = None,
    only: Annotated[list[str] | None, typer.Option(
        "--only", help="Play only these loops: ml, llm, infra (repeatable)")] = None,
) -> None:
    """Start triops with bundled data and play three closed loops: a promoted model rolled
    back, a failing LLM upstream drained, a PetShop issue traced to its cause."""
    from triops.demo import GATEWAY_SETTINGS, LOOPS, DemoContext, LoopResult

    chosen = only or list(LOOPS)
    unknown = [name for name in chosen if name not in LOOPS]
    if unknown:
        raise ConfigError(f"no demo loop {unknown[0]!r}; the loops are {', '.join(LOOPS)}")
    folder = home or Path(tempfile.mkdtemp(prefix="triops-demo-"))
    settings = settings_from(
        store=store, home=folder, host="127.0.0.1",
        port=port or (_free_port() if check else 7600), log_level="warning",
        gateway=GATEWAY_SETTINGS)
    # Imported here: the runtime pulls in every pillar, which ``triops --help`` and the
    # other verbs have no use for.
    from triops.server.runtime import Runtime
    from triops.store import upgrade_schema

    runtime = Runtime.build(settings)
    with console.status("Applying database migrations…"):
        upgrade_schema(runtime.db.engine)
    secret = _demo_key(runtime)
    server = _Server(runtime).start()
    console.print(f"[bold green]triops demo[/] at [bold]{server.url}/ui[/] — log in with "
                  f"[bold]{secret}[/] (project {DEFAULT_PROJECT})", soft_wrap=True)
    console.print(f"store: {settings.store_url}", soft_wrap=True)
    import httpx

    results: list[LoopResult] = []
    with httpx.Client(base_url=server.url, timeout=60, headers={
            "Authorization": f"Bearer {secret}", "X-Triops-Project": DEFAULT_PROJECT}) as http:
        ctx = DemoContext(http, server.url, console, auto_approve=auto_approve or check)
        try:
            for name in chosen:
                console.rule(f"loop {name}")
                try:
                    results.append(LOOPS[name](ctx))
                except Exception as exc:  # noqa: BLE001 - a loop that breaks did not close
                    message = exc.message if isinstance(exc, TriopsError) else repr(exc)
                    results.append(LoopResult(name, False, message))
            _report(results)
            if not check:
                console.print(f"The UI stays at {server.url}/ui; Ctrl-C stops the demo.")
                _wait_forever()
        finally:
            server.stop()
            runtime.close()
            if check and home is None and store is None:
                shutil.rmtree(folder, ignore_errors=True)
    failed = [r for r in results if not r.closed]
    if failed:
        for result in failed:
            err_console.print(f"[red]loop {result.name} did not close:[/] {result.summary}",
                              highlight=False, soft_wrap=True)
        raise typer.Exit(1)


def _report(results: list[Any]) -> None:
    from rich.table import Table

    table = Table(title="closed loops")
    for column in ("loop", "closed", "signal → remediation", "what happened"):
        table.add_column(column, overflow="fold")
    for result in results:
        took = result.seconds_to_remediation
        table.add_row(result.name, "[green]yes[/]" if result.closed else "[red]no[/]",
                      f"{took:.1f} s" if took is not None else "—", result.summary)
    console.print(table)
    for result in results:
        took = result.seconds_to_remediation
        if took is not None:
            console.print(f"time from first signal to remediation, {result.name}: {took:.1f} s")


def _wait_forever() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("stopping")
