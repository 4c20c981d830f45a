"""SIGKILL the server in the middle of a stream of acknowledged batch writes; after a
restart every acknowledged record must be there."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.conftest import new_server
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

BATCH = 200


def _writer(url: str, key: str, writer: int, acked: list[tuple[int, int]],
            stop: threading.Event) -> None:
    batch_no = 0
    with httpx.Client(base_url=url, timeout=10, headers={"Authorization": f"Bearer {key}"}) as http:
        while not stop.is_set():
            samples = [{"name": "durability", "labels": {"w": str(writer), "batch": str(batch_no)},
                        "ts_ms": batch_no * BATCH + i, "value": float(i)} for i in range(BATCH)]
            try:
                response = http.post("/api/v1/ops/samples", json={"samples": samples})
            except httpx.HTTPError:
                return  # the server died mid-request: this batch was never acknowledged
            if response.status_code == 201:
                acked.append((writer, batch_no))
            batch_no += 1


def test_acknowledged_batches_survive_sigkill(backend, tmp_path, pg_databases):
    server = new_server(backend, tmp_path / "srv", pg_databases).start()
    acked: list[tuple[int, int]] = []
    stop = threading.Event()
    writers = [threading.Thread(target=_writer, args=(server.url, server.admin_key, n, acked, stop))
               for n in range(3)]
    for w in writers:
        w.start()
    wait_until(lambda: len(acked) >= 20, timeout=30, interval=0.05,
               message="writers to get going before the kill")
    server.kill()  # SIGKILL while writers are still sending
    stop.set()
    for w in writers:
        w.join(15)

    server.start()
    try:
        with server.http() as http:
            series = set(http.get("/api/v1/ops/series", params={"prefix": "durability"}).json())
            for writer, batch_no in acked:
                key = f'durability{{batch="{batch_no}",w="{writer}"}}'
                assert key in series, f"acknowledged batch {key} lost"
                points = http.get("/api/v1/ops/samples", params={"series": key}).json()["points"]
                assert len(points) == BATCH
    finally:
        server.stop()
