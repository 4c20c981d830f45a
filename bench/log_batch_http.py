"""Server CPU per MLflow ``log-batch`` call over HTTP, builds alternated.

Starts ``triops up`` (SQLite) from each ``label=src-dir`` in turn and reads its CPU
(``/proc/<pid>/stat``, user + system) around N ``log-batch`` calls of 1,000 metrics sent
on one keep-alive connection with the stock ``mlflow`` client's headers and body (as its
3.x client writes them: ``json.dumps`` spacing, integer timestamps and steps). Raw
sockets rather than an HTTP library: the client's own CPU stays off the 2-core machine.
``--pace`` sleeps between calls, as the stock client's ~24 ms of its own work per call
spaces them out.

    PYTHONPATH=src .venv/bin/python bench/log_batch_http.py --calls 2000 --rounds 2 \\
        before=/tmp/before/src after=src
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from tracking import KEY, start_triops

HEADERS = ("User-Agent: mlflow-python-client/3.17.2\r\nAccept-Encoding: gzip, deflate\r\n"
           "Accept: */*\r\nConnection: keep-alive\r\nX-MLflow-Client-Version: 3.17.2\r\n"
           f"Authorization: Bearer {KEY}\r\n")


def cpu_s(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def log_batch_request(port: int, run_id: str) -> bytes:
    now = int(time.time() * 1000)
    body = json.dumps({"run_id": run_id, "metrics": [
        {"key": "loss", "value": 1.0 / (i + 1), "timestamp": now + i, "step": i}
        for i in range(1000)]}).encode()
    return (f"POST /api/2.0/mlflow/runs/log-batch HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"{HEADERS}Content-Length: {len(body)}\r\nContent-Type: application/json\r\n\r\n"
            ).encode() + body


def exchange(sock: socket.socket, request: bytes) -> None:
    """Sends one request and reads its answer, which must be a 200."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or _closed()
    head, rest = data.split(b"\r\n\r\n", 1)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(rest) < length:
        rest += sock.recv(65536) or _closed()
    if head.split(b" ", 2)[1] != b"200":
        raise RuntimeError(f"log-batch answered {head!r} {rest!r}")


def _closed() -> bytes:
    raise RuntimeError("the server closed the connection")


def measure(src: str, calls: int, pace: float) -> tuple[float, float]:
    """Server CPU per call (total, system) in ms for one build."""
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, _ = start_triops(Path(tmp), src)
        try:
            auth = {"Authorization": f"Bearer {KEY}"}
            experiment = httpx.post(url + "/api/2.0/mlflow/experiments/create",
                                    json={"name": "http"}, headers=auth).json()["experiment_id"]
            run_id = httpx.post(url + "/api/2.0/mlflow/runs/create",
                                json={"experiment_id": experiment},
                                headers=auth).json()["run"]["info"]["run_id"]
            port = int(url.rsplit(":", 1)[1])
            request = log_batch_request(port, run_id)
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                for _ in range(20):  # warm-up
                    exchange(sock, request)
                user0, sys0 = cpu_s(proc.pid)
                for _ in range(calls):
                    if pace:
                        time.sleep(pace)
                    exchange(sock, request)
                user1, sys1 = cpu_s(proc.pid)
            return ((user1 - user0 + sys1 - sys0) / calls * 1000, (sys1 - sys0) / calls * 1000)
        finally:
            proc.terminate()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("builds", nargs="+", help="label=src-dir, alternated in this order")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pace", type=float, default=0.0, help="seconds between calls")
    args = parser.parse_args()
    builds = [tuple(spec.split("=", 1)) for spec in args.builds]
    results: dict[str, list[float]] = {label: [] for label, _ in builds}
    for round_ in range(args.rounds):
        for label, src in builds if round_ % 2 == 0 else builds[::-1]:
            total, system = measure(src, args.calls, args.pace)
            results[label].append(total)
            print(f"round {round_} {label}: {total:.3f} ms CPU per call "
                  f"({system:.3f} ms system)", flush=True)
    print(f"load average {os.getloadavg()}")
    for label, values in results.items():
        print(f"{label}: median {statistics.median(values):.3f} ms over {len(values)} rounds")


if __name__ == "__main__":
    main()
