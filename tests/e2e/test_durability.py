"""SIGKILL the server in the middle of a stream of acknowledged writes (batches of
samples, and MLflow metrics logged one by one, whose SQLite writes commit on the event
loop); after a restart every acknowledged record must be there."""

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


def _metric_writer(url: str, key: str, run_id: str, acked: list[int],
                   stop: threading.Event) -> None:
    step = 0
    with httpx.Client(base_url=url, timeout=10, headers={"Authorization": f"Bearer {key}"}) as http:
        while not stop.is_set():
            try:
                response = http.post("/api/2.0/mlflow/runs/log-metric", json={
                    "run_id": run_id, "key": "loss", "value": step / 7, "timestamp": step,
                    "step": step})
            except httpx.HTTPError:
                return
            if response.status_code == 200:
                acked.append(step)
            step += 1


def test_acknowledged_batches_survive_sigkill(backend, tmp_path, pg_databases):
    server = new_server(backend, tmp_path / "srv", pg_databases).start()
    with server.http() as http:
        run_id = http.post("/api/2.0/mlflow/runs/create", json={}).json()["run"]["info"]["run_id"]
    acked: list[tuple[int, int]] = []
    steps: list[int] = []
    stop = threading.Event()
    writers = [threading.Thread(target=_writer, args=(server.url, server.admin_key, n, acked, stop))
               for n in range(3)]
    writers.append(threading.Thread(target=_metric_writer,
                                    args=(server.url, server.admin_key, run_id, steps, stop)))
    for w in writers:
        w.start()
    wait_until(lambda: len(acked) >= 20 and len(steps) >= 20, timeout=30, interval=0.05,
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
            history = http.get("/api/2.0/mlflow/metrics/get-history",
                               params={"run_id": run_id, "metric_key": "loss"}).json()["metrics"]
            assert set(steps) <= {p["step"] for p in history}, "an acknowledged metric was lost"
    finally:
        server.stop()
