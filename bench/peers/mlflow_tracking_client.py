"""Runs inside the mlflow venv: the stock MLflow client against tracking servers.

Usage: python mlflow_tracking_client.py MODE JSON_ARGS  (the token from MLFLOW_TRACKING_TOKEN)
Every mode takes ``uris`` (one or more servers) and alternates between them in rounds,
so that load from other processes on a shared machine hits each server alike, and
optionally ``pids`` (uri -> the server's process id).
Modes (stdout, one JSON object keyed by uri; each result has the client's own CPU seconds
spent on that server's calls, ``client_cpu_s``, and with ``pids`` the CPU seconds of the
server's process and its children while those calls ran, ``server_cpu_s``: not while
the other server was being called or the client was starting):
  one_by_one {"uris": [...], "points": N, "budget_s": S, "rounds": R}
      log_metric per point, S/R seconds per round per server, at most N points each
  batch      {"uris": [...], "points": N, "size": B, "rounds": R, "budget_s": S}
      log_batch of B points, N/R points per round per server (or S/R seconds)
  search     {"uris": [...], "experiment": NAME, "filter": F, "repeat": R, "max_results": M}
"""

import json
import os
import statistics
import sys
import time

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient


def tree_cpu(pid):
    """CPU seconds used so far by a process's live threads and those of its live
    descendants, from each thread's ``/proc/.../schedstat`` (nanoseconds: a call of a
    few ms is below ``/proc/.../stat``'s 10 ms tick); 0 for no process."""
    if not pid:
        return 0.0
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    tree, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        tree.add(parent)
        todo += [p for p, ppid in parents.items() if ppid == parent and p not in tree]
    ns = 0
    for p in tree:
        try:
            threads = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in threads:
            try:
                with open(f"/proc/{p}/task/{t}/schedstat") as f:
                    ns += int(f.read().split()[0])
            except OSError:
                continue
    return ns / 1e9


def _run(client, experiment):
    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
    return client.create_run(exp_id).info.run_id


def _setup(args, experiment):
    state = {}
    for uri in args["uris"]:
        client = MlflowClient(tracking_uri=uri)
        state[uri] = {"client": client, "run_id": _run(client, experiment), "points": 0,
                      "seconds": 0.0, "cpu_s": 0.0, "server_cpu_s": 0.0,
                      "pid": args.get("pids", {}).get(uri)}
    return state


def _result(state):
    out = {}
    for uri, s in state.items():
        s["client"].set_terminated(s["run_id"])
        out[uri] = {"points": s["points"], "seconds": s["seconds"],
                    "points_per_s": s["points"] / s["seconds"], "run_id": s["run_id"],
                    "client_cpu_s": s["cpu_s"], "server_cpu_s": s["server_cpu_s"]}
    return out


def one_by_one(args):
    state = _setup(args, "bench-one-by-one")
    per_round = args["budget_s"] / args["rounds"]
    for _ in range(args["rounds"]):
        for s in state.values():
            client, run_id, n = s["client"], s["run_id"], s["points"]
            server_cpu = tree_cpu(s["pid"])
            start, cpu = time.perf_counter(), time.process_time()
            while n < args["points"] and time.perf_counter() - start < per_round:
                client.log_metric(run_id, "loss", 1.0 / (n + 1), step=n)
                n += 1
            s["seconds"] += time.perf_counter() - start
            s["cpu_s"] += time.process_time() - cpu
            s["server_cpu_s"] += tree_cpu(s["pid"]) - server_cpu
            s["points"] = n
    return _result(state)


def batch(args):
    state = _setup(args, "bench-batch")
    size = args["size"]
    per_round_points = args["points"] // args["rounds"]
    per_round_s = args["budget_s"] / args["rounds"]
    now = int(time.time() * 1000)
    for _ in range(args["rounds"]):
        for s in state.values():
            client, run_id, n = s["client"], s["run_id"], s["points"]
            server_cpu = tree_cpu(s["pid"])
            start, goal = time.perf_counter(), n + per_round_points
            cpu = time.process_time()
            while n < goal and time.perf_counter() - start < per_round_s:
                client.log_batch(run_id, metrics=[Metric("loss", 1.0 / (i + 1), now + i, i)
                                                  for i in range(n, n + size)])
                n += size
            s["seconds"] += time.perf_counter() - start
            s["cpu_s"] += time.process_time() - cpu
            s["server_cpu_s"] += tree_cpu(s["pid"]) - server_cpu
            s["points"] = n
    return _result(state)


def search(args):
    clients = {uri: MlflowClient(tracking_uri=uri) for uri in args["uris"]}
    exp_ids = {uri: c.get_experiment_by_name(args["experiment"]).experiment_id
               for uri, c in clients.items()}
    latencies = {uri: [] for uri in clients}
    cpu = {uri: 0.0 for uri in clients}
    server_cpu = {uri: 0.0 for uri in clients}
    pids = args.get("pids", {})
    pages = {}
    for _ in range(args["repeat"]):
        for uri, client in clients.items():
            server_started = tree_cpu(pids.get(uri))
            start, started_cpu = time.perf_counter(), time.process_time()
            pages[uri] = client.search_runs([exp_ids[uri]], filter_string=args["filter"],
                                            max_results=args["max_results"])
            latencies[uri].append(time.perf_counter() - start)
            cpu[uri] += time.process_time() - started_cpu
            server_cpu[uri] += tree_cpu(pids.get(uri)) - server_started
    return {uri: {"p50_ms": statistics.median(latencies[uri]) * 1000,
                  "found": len(pages[uri]), "client_cpu_s": cpu[uri],
                  "server_cpu_s": server_cpu[uri],
                  "calls": args["repeat"],
                  "run_ids": sorted(r.info.run_id for r in pages[uri])} for uri in clients}


def main():
    mode, args = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps({"one_by_one": one_by_one, "batch": batch, "search": search}[mode](args)))


if __name__ == "__main__":
    main()
