"""Root-cause ranking: the ``triops ops rca`` contract on a synthetic graph with a known
injected cause, normal windows that must yield no cause, bad input, and one PetShop issue."""

from __future__ import annotations

import csv
import doctest
import json
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from triops.cli.main import app
from triops.ops.rca import _ranking

runner = CliRunner()
PETSHOP = Path("/work/shared/datasets/petshop/low_traffic")

# frontend calls api and auth; api calls db and cache.
EDGES = [("frontend", "api"), ("frontend", "auth"), ("api", "db"), ("api", "cache")]
NODES = ["frontend", "api", "auth", "db", "cache"]
BASE = {"frontend": 120.0, "api": 80.0, "auth": 15.0, "db": 30.0, "cache": 5.0}


def write_graph(path: Path) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", *NODES])
        for caller in NODES:
            writer.writerow([caller, *(int((caller, callee) in EDGES) for callee in NODES)])
    return path


def write_metrics(path: Path, latency: dict[str, np.ndarray], availability: dict[str, np.ndarray]) -> Path:
    columns = [(n, "latency", "Average") for n in NODES] + [(n, "availability", "Average") for n in NODES]
    rows = len(latency[NODES[0]])
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        for level in range(3):
            writer.writerow(["unix_timestamp" if level == 2 else "", *(c[level] for c in columns)])
        for i in range(rows):
            values = [latency[n][i] for n in NODES] + [availability[n][i] for n in NODES]
            writer.writerow([1_700_000_000 + 300 * i, *(f"{v:.4f}" for v in values)])
    return path


def healthy(rng: np.random.Generator, rows: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    latency = {n: BASE[n] * (1 + 0.05 * rng.standard_normal(rows)) for n in NODES}
    availability = {n: np.full(rows, 100.0) for n in NODES}
    return latency, availability


@pytest.fixture
def scenario(tmp_path: Path) -> dict[str, Path]:
    """A normal period, and a window where db slows down from row 3 (felt by api and
    frontend) while cache sits shifted for the whole window, unrelated to the symptom."""
    rng = np.random.default_rng(7)
    normal = write_metrics(tmp_path / "normal.csv", *healthy(rng, 300))
    latency, availability = healthy(rng, 6)
    slow = np.array([0, 0, 0, 40.0, 60.0, 50.0])
    for node in ("db", "api", "frontend"):
        latency[node] = latency[node] + slow
    latency["cache"] = latency["cache"] + 3.0
    abnormal = write_metrics(tmp_path / "abnormal.csv", latency, availability)
    quiet = write_metrics(tmp_path / "quiet.csv", *healthy(rng, 60))
    return {"graph": write_graph(tmp_path / "graph.csv"), "normal": normal,
            "abnormal": abnormal, "quiet": quiet, "out": tmp_path / "causes.csv"}


def rca(paths: dict[str, Path], abnormal: Path, *extra: str, node: str = "frontend",
        metric: str = "latency"):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [
        "ops", "rca", "--graph", str(paths["graph"]), "--normal", str(paths["normal"]),
        "--abnormal", str(abnormal), "--target-node", node, "--target-metric", metric,
        "--target-stat", "Average", "--output", str(paths["out"]), *extra,
    ])


def read_causes(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_injected_cause_ranks_first_with_its_callers_explained(scenario):
    result = rca(scenario, scenario["abnormal"])
    assert result.exit_code == 0, result.output
    causes = read_causes(scenario["out"])
    assert causes[0]["node"] == "db"
    assert causes[0]["metric"] == "latency"
    scores = [float(c["score"]) for c in causes]
    assert scores == sorted(scores, reverse=True)
    # api and frontend are slow only because db is; cache's shift does not follow the symptom.
    assert {c["node"] for c in causes} == {"db"}


def test_availability_drop_is_ranked_in_the_lower_is_worse_direction(scenario, tmp_path: Path):
    rng = np.random.default_rng(11)
    latency, availability = healthy(rng, 6)
    drop = np.array([0, 0, 4.0, 6.0, 0, 0])
    availability["auth"] = availability["auth"] - drop
    availability["frontend"] = availability["frontend"] - drop / 3
    abnormal = write_metrics(tmp_path / "errors.csv", latency, availability)
    assert rca(scenario, abnormal, metric="availability").exit_code == 0
    assert [c["node"] for c in read_causes(scenario["out"])] == ["auth"]


def test_normal_window_yields_header_only(scenario):
    result = rca(scenario, scenario["quiet"])
    assert result.exit_code == 0, result.output
    assert scenario["out"].read_text().splitlines() == ["node,metric,score"]


def test_min_score_zero_lists_more_than_the_default(scenario):
    assert rca(scenario, scenario["abnormal"], "--min-score", "0").exit_code == 0
    assert len(read_causes(scenario["out"])) > 1


@pytest.mark.parametrize(("change", "message"), [
    ({"graph": Path("missing.csv")}, "does not exist"),
    ({"node": "nowhere"}, "not a node of the graph"),
    ({"metric": "cpu"}, "no column frontend/cpu/Average"),
    ({"normal": "graph"}, "no column"),
    ({"graph": "normal"}, "not a square adjacency matrix"),
    ({"abnormal": "garbage"}, "not a number"),
])
def test_bad_input_exits_with_a_clear_message(scenario, tmp_path: Path, change, message):
    paths = dict(scenario)
    garbage = tmp_path / "garbage.csv"
    garbage.write_text("a,b,c\nx,y,z\nu,v,w\n1,oops,2\n")
    paths["garbage"] = garbage
    for key in ("graph", "normal"):
        value = change.get(key)
        if isinstance(value, str):
            paths[key] = scenario[value]
        elif isinstance(value, Path):
            paths[key] = tmp_path / value
    abnormal = paths[change["abnormal"]] if "abnormal" in change else scenario["abnormal"]
    result = rca(paths, abnormal, node=change.get("node", "frontend"),
                 metric=change.get("metric", "latency"))
    assert result.exit_code == 2
    assert message in result.output
    assert not scenario["out"].exists()


def test_robust_z_examples():
    assert doctest.testmod(_ranking).failed == 0


@pytest.mark.skipif(not PETSHOP.is_dir(), reason="PetShop dataset not present")
def test_petshop_issue_cause_is_first(tmp_path: Path):
    issue = PETSHOP / "test" / "issue_4"  # payforadoption delayed by 500 ms
    target = json.loads((issue / "target.json").read_text())
    paths = {"graph": PETSHOP / "graph.csv", "normal": PETSHOP / "noissue" / "metrics.csv",
             "out": tmp_path / "causes.csv"}
    result = rca(paths, issue / "metrics.csv", node=target["target"]["node"],
                 metric=target["target"]["metric"])
    assert result.exit_code == 0, result.output
    assert read_causes(paths["out"])[0]["node"] == target["root_cause"]["node"]


def _tables(
    series: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    def frame(part: int) -> pd.DataFrame:
        return pd.DataFrame({(n, m, "Sum" if m == "requests" else "Average"): v[part]
                             for (n, m), v in series.items()})
    return frame(0), frame(1)


def test_a_low_traffic_leaf_that_fails_harder_yields_to_the_service_carrying_the_errors() -> None:
    """front calls a load balancer (a leaf, 50 requests) and the service behind it (800
    requests, no edge between them). The service fails 3 % of its requests, the balancer
    15 % of its few: the balancer's z-score is larger, but it accounts for a fraction of
    the front's failed requests, the service for all of them."""
    rng = np.random.default_rng(3)
    graph = nx.DiGraph([("front", "lb"), ("front", "svc"), ("svc", "db")])
    drop = np.array([0.0, 0.0, 1.0, 1.0, 0.0])

    def avail(noise: float, fall: float) -> tuple[np.ndarray, np.ndarray]:
        return (100 - np.abs(noise * rng.standard_normal(200)), 100 - fall * drop)

    series = {
        ("front", "availability"): avail(0.8, 4.0),
        ("lb", "availability"): avail(0.3, 15.0),
        ("svc", "availability"): avail(0.4, 3.0),
        ("db", "availability"): (np.full(200, 100.0), np.full(5, 100.0)),
        ("front", "requests"): (np.full(200, 500.0), np.full(5, 500.0)),
        ("lb", "requests"): (np.full(200, 50.0), np.full(5, 50.0)),
        ("svc", "requests"): (np.full(200, 800.0), np.full(5, 800.0)),
        ("db", "requests"): (np.full(200, 800.0), np.full(5, 800.0)),
    }
    normal, abnormal = _tables(series)
    plain = _ranking.rank_causes(graph, normal, abnormal, "front", "availability", "Average",
                                 _ranking.RcaConfig(min_score=0.0, coverage_power=0.0))
    assert plain[0].node == "lb"  # by z-score alone the leaf wins
    causes = _ranking.rank_causes(graph, normal, abnormal, "front", "availability", "Average")
    assert causes[0].node == "svc"
