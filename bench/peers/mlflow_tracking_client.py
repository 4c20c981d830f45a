"""Runs inside the mlflow venv: the stock MLflow client against a tracking server.

Usage: python mlflow_tracking_client.py MODE JSON_ARGS  (server from MLFLOW_TRACKING_URI)
Modes (stdout, one JSON object):
  one_by_one {"points": N, "budget_s": S}  -> log_metric per point until N or S seconds
  batch      {"points": N, "size": B}      -> log_batch of B points until N
  search     {"experiment": NAME, "filter": F, "repeat": R, "max_results": M}
"""

import json
import statistics
import sys
import time

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient


def _run(client, experiment):
    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
    return client.create_run(exp_id).info.run_id


def one_by_one(client, args):
    run_id = _run(client, "bench-one-by-one")
    start = time.perf_counter()
    n = 0
    while n < args["points"] and time.perf_counter() - start < args["budget_s"]:
        client.log_metric(run_id, "loss", 1.0 / (n + 1), step=n)
        n += 1
    elapsed = time.perf_counter() - start
    client.set_terminated(run_id)
    return {"points": n, "seconds": elapsed, "points_per_s": n / elapsed, "run_id": run_id}


def batch(client, args):
    run_id = _run(client, "bench-batch")
    size, total = args["size"], args["points"]
    now = int(time.time() * 1000)
    start = time.perf_counter()
    n = 0
    while n < total and time.perf_counter() - start < args.get("budget_s", 1e9):
        client.log_batch(run_id, metrics=[Metric("loss", 1.0 / (i + 1), now + i, i)
                                          for i in range(n, n + size)])
        n += size
    elapsed = time.perf_counter() - start
    client.set_terminated(run_id)
    return {"points": n, "seconds": elapsed, "points_per_s": n / elapsed, "run_id": run_id}


def search(client, args):
    exp = client.get_experiment_by_name(args["experiment"])
    latencies, found = [], None
    for _ in range(args["repeat"]):
        start = time.perf_counter()
        page = client.search_runs([exp.experiment_id], filter_string=args["filter"],
                                  max_results=args["max_results"])
        latencies.append(time.perf_counter() - start)
        found = len(page)
    return {"p50_ms": statistics.median(latencies) * 1000, "found": found,
            "run_ids": sorted(r.info.run_id for r in page)}


def main():
    mode, args = sys.argv[1], json.loads(sys.argv[2])
    client = MlflowClient()
    print(json.dumps({"one_by_one": one_by_one, "batch": batch, "search": search}[mode](
        client, args)))


if __name__ == "__main__":
    main()
