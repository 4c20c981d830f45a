"""Fairness monitors: rates per group against a direct pandas computation, windows that
merge exactly, and a gap beyond the threshold raised as an incident (both stores)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from triops.ml.monitoring.fairness import FairnessCounts, is_positive
from triops.ml.serving import PREDICTION_KIND, append_labels
from triops.ml.serving.predictions import prediction_row
from triops.store import records

ENDPOINT = "loans"


def _rows(n, seed, bias=0.0):
    """Applicants of two groups; ``bias`` is how much more often group F is refused."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    race = rng.choice(["a", "b", "c"], n, p=[0.7, 0.2, 0.1])
    truth = rng.random(n) < 0.4
    pred = np.where(rng.random(n) < 0.85, truth, ~truth)
    pred = np.where((sex == "F") & (rng.random(n) < bias), False, pred)
    return pd.DataFrame({"sex": sex, "race": race, "truth": truth.astype(int),
                         "pred": pred.astype(int)})


def _reference(frame, by):
    out = {}
    for group, g in frame.groupby(by):
        t, p = g.truth == 1, g.pred == 1
        out[str(group)] = {"count": len(g), "selection_rate": p.mean(),
                           "accuracy": (t == p).mean(), "tpr": (t & p).sum() / t.sum(),
                           "fpr": (~t & p).sum() / (~t).sum()}
    return out


def test_rates_and_gaps_equal_a_direct_computation_and_windows_merge_exactly():
    frame = _rows(3000, seed=0, bias=0.2)
    whole = FairnessCounts()
    whole.update(frame.race, frame.truth == 1, frame.pred == 1)
    merged = FairnessCounts()
    for start in range(0, 3000, 700):  # windows of the log, added one by one
        part = frame.iloc[start:start + 700]
        window = FairnessCounts()
        window.update(part.race, part.truth == 1, part.pred == 1)
        merged.merge(window)
    assert merged.report() == whole.report()
    report = whole.report()
    expected = _reference(frame, "race")
    for group, metrics in expected.items():
        for name, value in metrics.items():
            assert report["groups"][group][name] == pytest.approx(value, abs=1e-12)
    rates = [m["selection_rate"] for m in expected.values()]
    assert report["demographic_parity_difference"] == pytest.approx(max(rates) - min(rates))
    tpr = [m["tpr"] for m in expected.values()]
    fpr = [m["fpr"] for m in expected.values()]
    assert report["equalized_odds_difference"] == pytest.approx(
        max(max(tpr) - min(tpr), max(fpr) - min(fpr)))


def test_positive_class_matches_across_types():
    assert is_positive([1, 1.0, "1", True, 0, ">50K"], 1).tolist() == [
        True, True, True, True, False, False]
    assert is_positive([">50K", "<=50K"], ">50K").tolist() == [True, False]


def _log(db, start_ms, frame):
    rows = [prediction_row(endpoint=ENDPOINT, time_ms=start_ms + i, request_id=f"r{start_ms}-{i}",
                           model="loans", version=1, served_by="primary", latency_ms=1.0,
                           columns=["sex", "race"], rows=[[r.sex, r.race]], outputs=[int(r.pred)])
            for i, r in enumerate(frame.itertuples())]
    with db.write() as session:
        records.append(session, "default", PREDICTION_KIND, rows)
        append_labels(session, "default", ENDPOINT, start_ms + len(frame),
                      [(f"r{start_ms}-{i}", int(t)) for i, t in enumerate(frame.truth)])


def test_a_fairness_gap_becomes_an_incident(client, runtime):
    spec = {"model": "loans", "drift": None, "quality": None,
            "window": {"kind": "count", "size": 600},
            "fairness": {"sensitive": ["sex", "race"], "threshold": 0.1,
                         "gaps": ["demographic_parity_difference"], "min_group": 30}}
    created = client.post("/api/v1/monitors", json={"name": "loans-fair", "endpoint": ENDPOINT,
                                                     "spec": spec})
    assert created.status_code == 201, created.text
    fair = _rows(600, seed=1)
    _log(runtime.db, 1_000, fair)
    ok = client.post("/api/v1/monitors/loans-fair/run").json()
    assert ok["status"] == "ok", ok
    by_sex = ok["performance"]["fairness"]["by"]["sex"]
    assert by_sex["groups"]["F"]["selection_rate"] == pytest.approx(
        _reference(fair, "sex")["F"]["selection_rate"])
    biased = _rows(600, seed=2, bias=0.5)
    _log(runtime.db, 1_000_000, biased)
    breach = client.post("/api/v1/monitors/loans-fair/run").json()
    assert breach["status"] == "breach"
    detail = breach["breaches"]["fairness"]
    assert detail["feature"] == "sex" and detail["gap"] == "demographic_parity_difference"
    assert detail["value"] > 0.1
    [incident] = client.get("/api/v1/incidents").json()
    members = client.get(f"/api/v1/incidents/{incident['id']}").json()["members"]
    assert {(m["kind"], m["subject"]) for m in members} == {("fairness", "model:loans@champion")}
    page = client.get("/ui/ml/monitors/loans-fair")
    assert page.status_code == 200 and "demographic_parity_difference" in page.text


@pytest.mark.parametrize(("fairness", "message"), [
    ({"sensitive": []}, "fairness.sensitive"),
    ({"sensitive": ["sex"], "gaps": ["nope"]}, "fairness.gaps"),
    ({"sensitive": ["sex"], "threshold": 2}, "fairness.threshold"),
    ({"sensitive": ["sex"], "colour": 1}, "unknown or missing field"),
])
def test_bad_fairness_checks_are_refused(client, fairness, message):
    r = client.post("/api/v1/monitors", json={"name": "x", "endpoint": ENDPOINT, "spec": {
        "model": "loans", "drift": None, "quality": None, "fairness": fairness}})
    assert r.status_code == 400 and message in r.json()["message"]
