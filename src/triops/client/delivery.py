"""Send a request now, or spool it and keep re-sending until the server takes it.

While anything waits in the spool, new requests are spooled behind it rather than
sent ahead of it, so a run's creation always reaches the server before its batches.
A background thread drains the spool with exponential backoff; ``drain`` does it on
demand (the SDK calls it at start and at flush).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from triops.client.http import Rejected, Transport, Unreachable
from triops.client.spool import Spool

log = logging.getLogger("triops.client")

_deliveries: dict[tuple[str, str | None, Path], Delivery] = {}
_registry_lock = threading.Lock()


class Delivery:
    def __init__(self, transport: Transport, spool: Spool, *, max_backoff_s: float = 30.0
                 ) -> None:
        self.transport = transport
        self.spool = spool
        self.max_backoff_s = max_backoff_s
        self.rejected: list[str] = []
        self._send_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def send(self, path: str, body: bytes) -> dict | None:
        """The server's reply, or None when the request was spooled for later.

        Raises ``Rejected`` when the server refused it (sending again would not help).
        """
        with self._send_lock:
            if not self.spool.pending():
                try:
                    return self.transport.post(path, body)
                except Rejected as exc:
                    kept = self.spool.keep_rejected(path, body, f"{path}: {exc}")
                    self.rejected.append(f"{path}: {exc}")
                    log.error("triops refused %s (%s); kept in %s", path, exc, kept)
                    raise
                except Unreachable as exc:
                    log.warning("triops server unreachable (%s); spooling to %s",
                                exc, self.spool.folder)
            self.spool.put(path, body)
        self._start_background()
        return None

    def drain(self) -> bool:
        """Re-send spooled requests in order; True when the spool is empty after."""
        with self._send_lock:
            for file in self.spool.pending():
                try:
                    entry = self.spool.load(file)
                except (OSError, ValueError) as exc:
                    self.spool.reject(file, f"unreadable spool file: {exc}")
                    continue
                try:
                    self.transport.post(entry.path, entry.body)
                except Unreachable:
                    return False
                except Rejected as exc:
                    reason = f"{entry.path}: {exc}"
                    self.rejected.append(reason)
                    kept = self.spool.reject(file, reason)
                    log.error("triops refused a spooled request (%s); kept in %s", exc, kept)
                    continue
                self.spool.done(file)
            return True

    def _start_background(self) -> None:
        self._wake.set()
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._loop, name="triops-spool", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        delay = 0.25
        while True:
            self._wake.wait(delay)
            self._wake.clear()
            if not self.spool.pending():
                return
            if self.drain():
                delay = 0.25
            else:
                delay = min(delay * 2, self.max_backoff_s)


def delivery_for(url: str, api_key: str | None, project: str | None, spool_folder: Path,
                 *, timeout_s: float = 30.0, max_backoff_s: float = 30.0) -> Delivery:
    """One delivery per server, project and spool folder in a process, shared by runs."""
    key = (url.rstrip("/"), project, spool_folder)
    with _registry_lock:
        found = _deliveries.get(key)
        if found is None:
            found = Delivery(Transport(url, api_key=api_key, project=project,
                                       timeout_s=timeout_s),
                             Spool(spool_folder), max_backoff_s=max_backoff_s)
            _deliveries[key] = found
        return found
