"""The real ``triops`` command line, run in the test's process through Typer's runner.

A verb run this way costs milliseconds where a ``triops`` subprocess costs an
interpreter start (about a second); how the process itself prints an error and exits is
tested with subprocesses in test_cli.py."""

from __future__ import annotations

from typer.testing import CliRunner, Result

from triops.cli.main import app
from triops.core.errors import TriopsError


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def failure(result: Result) -> str:
    """The message ``triops`` prints for the error that stopped the command."""
    assert isinstance(result.exception, TriopsError), result.output
    return result.exception.message
