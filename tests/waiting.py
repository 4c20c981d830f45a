"""Waiting in tests for something that happens in the background, with a bounded wait."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def _timed_out(timeout: float, message: str | Callable[[], str], last: object) -> AssertionError:
    text = message() if callable(message) else message
    return AssertionError(f"waited {timeout:g} s for {text}; the last check gave {last!r}")


def wait_until(predicate: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.1,
               message: str | Callable[[], str] = "the condition") -> T:
    """Call ``predicate`` until it returns something truthy, and return that.

    Fails with ``message`` (a string, or a function called only on failure, e.g. to add a
    server log) and the last value seen once ``timeout`` seconds have passed.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _timed_out(timeout, message, value)
        time.sleep(interval)


async def wait_until_async(predicate: Callable[[], T | Awaitable[T]], *, timeout: float = 10.0,
                           interval: float = 0.01,
                           message: str | Callable[[], str] = "the condition") -> T:
    """``wait_until`` for a test on an event loop: sleeps without blocking the loop."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _timed_out(timeout, message, value)
        await asyncio.sleep(interval)
