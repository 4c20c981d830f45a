"""The ML pages in headless Chromium: runs logged with the SDK and the stock MLflow
client, filtered, sorted, compared, and a model version's lineage."""

from __future__ import annotations

import pandas as pd
import pytest

import triops
from tests.e2e.browser import browser_page, charts, graph_nodes, hover, login, shot

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# The pages do not depend on the store backend; the API tests cover both.
BACKENDS_UNDER_TEST = ("sqlite",)


def _log_runs(server, tmp_path) -> list[str]:
    frame = pd.DataFrame({"tenure": [1, 5, 9, 14], "plan": ["basic", "pro", "pro", "basic"],
                          "churned": [1, 0, 0, 1]})
    ids = []
    for i, (alpha, depth) in enumerate([("0.1", 4), ("0.1", 8), ("0.5", 4)]):
        with triops.start_run(experiment="churn", name=f"gbm-{i}", url=server.url,
                              api_key=server.admin_key, spool_dir=tmp_path) as run:
            run.log_params({"alpha": alpha, "depth": depth, "features": "tenure,plan"})
            run.log_dataset(frame, name="churn-train")
            for step in range(60):
                run.log_metric("rmse", (1.0 + i * 0.3) / (1 + step * (0.2 + 0.1 * i)), step=step)
                run.log_metric("auc", 0.6 + 0.3 * (1 - 1 / (1 + step * 0.1 * (i + 1))), step=step)
        ids.append(run.run_id)
    return ids


def test_ml_pages(server, tmp_path, monkeypatch):
    run_ids = _log_runs(server, tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", server.admin_key)
    from mlflow.entities import Dataset, DatasetInput
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    client.log_inputs(run_ids[1], datasets=[DatasetInput(Dataset(
        name="churn-holdout", digest="5d41402a", source_type="local",
        source="/data/holdout.csv"))])
    client.create_registered_model("churn", description="Customer churn classifier")
    for run_id in run_ids[:2]:
        client.create_model_version("churn", f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias("churn", "champion", "1")
    client.set_registered_model_alias("churn", "champion", "2")
    client.set_registered_model_alias("churn", "challenger", "1")
    client.delete_registered_model_alias("churn", "challenger")

    with browser_page(server.url) as page:
        login(page, server.admin_key)
        page.click("nav.sections >> text=ML")
        assert "churn" in page.inner_text("#experiments")
        assert "churn-train" in page.inner_text("#datasets")
        shot(page, "ml-experiments")

        page.click("#experiments >> text=churn")
        assert page.locator("#runs tbody tr").count() == 3
        shot(page, "ml-runs")

        page.fill("#filter", "metrics.rmse < 0.5 and params.alpha = '0.1'")
        page.click("button:has-text('Apply')")
        names = page.locator("#runs tbody tr td:nth-child(2)").all_inner_texts()
        assert sorted(n.split("\n")[0] for n in names) == ["gbm-0", "gbm-1"]

        def shown() -> list[str]:
            return [n.split("\n")[0] for n in
                    page.locator("#runs tbody tr td:nth-child(2)").all_inner_texts()]

        # Latest rmse: gbm-1 0.0695, gbm-0 0.0781.
        page.click("#runs thead >> a:has-text('rmse')")
        page.wait_for_url("**sort=metrics*")
        assert shown() == ["gbm-1", "gbm-0"]
        page.click("#runs thead >> a:has-text('rmse')")
        page.wait_for_url("**desc=true*")
        assert shown() == ["gbm-0", "gbm-1"]
        assert "rmse ▼" in page.inner_text("#runs thead")
        shot(page, "ml-runs-filtered-sorted")

        page.fill("#filter", "metrics.rmse <<< 1")
        page.click("button:has-text('Apply')")
        assert "Filter not applied" in page.inner_text("#filter-error")
        shot(page, "ml-runs-filter-error")

        page.fill("#filter", "")
        page.click("button:has-text('Apply')")
        for box in page.locator("#runs tbody input[type=checkbox]").all():
            box.check()
        page.click("#compare")
        drawn = charts(page)
        assert [c["title"] for c in drawn] == ["auc by step", "rmse by step"]
        for c in drawn:  # one curve of 60 steps per run, each toggled from the legend
            assert [(s["name"], s["points"]) for s in c["series"]] == [
                ("gbm-0", 60), ("gbm-1", 60), ("gbm-2", 60)]
            assert c["legend"] == ["gbm-0", "gbm-1", "gbm-2"]
        tip = hover(page, page.locator("div.chart").nth(1))
        assert "gbm-0" in tip and "gbm-2" in tip and "step" in tip
        # A run toggled off in the legend leaves the chart; the others stay.
        page.locator("div.chart").nth(1).evaluate(
            "el => echarts.getInstanceByDom(el).dispatchAction("
            "{type: 'legendToggleSelect', name: 'gbm-1'})")
        tip = hover(page, page.locator("div.chart").nth(1), 0.3)
        assert "gbm-0" in tip and "gbm-1" not in tip
        diff_rows = page.locator("#param-diff tr.diff td:first-child").all_inner_texts()
        assert sorted(diff_rows) == ["alpha", "depth"]  # "features" is the same everywhere
        shot(page, "ml-compare")
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "ml-compare-phone")
        page.set_viewport_size({"width": 1400, "height": 900})

        page.goto("/ui/ml/models")
        assert "@champion → v2" in page.inner_text("#models")
        page.click("#models >> text=churn")
        assert page.locator("#versions tbody tr").count() == 2
        [alias] = page.locator("#aliases tbody tr").all_inner_texts()
        assert alias.split("\t")[:2] == ["@champion", "v2"] and "admin" in alias
        history = [r.split("\t")[1:4] for r in
                   page.locator("#alias-history tbody tr").all_inner_texts()]
        assert history == [["@challenger", "deleted (was v1)", "key:admin"],
                           ["@challenger", "set to v1", "key:admin"],
                           ["@champion", "v1 → v2", "key:admin"],
                           ["@champion", "set to v1", "key:admin"]]
        shot(page, "ml-model")
        page.set_viewport_size({"width": 390, "height": 844})
        shot(page, "ml-model-phone")
        page.set_viewport_size({"width": 1400, "height": 900})
        page.click("#versions tr:has-text('v2') >> text=dataset → run → model")
        chain = page.inner_text("#lineage")
        for expected in ("churn-train", "v1", "churn-holdout", "not registered", "gbm-1",
                         "churn v2", "@champion", "Not deployed"):
            assert expected in chain, expected
        drawn = graph_nodes(page, "#lineage-graph div.chart")
        assert {"model:churn/2", f"run:{run_ids[1]}", "model:churn@champion",
                "model:churn"} <= set(drawn)
        assert any(k.startswith("dataset:churn-train@") for k in drawn)
        # Laid out along the edges: the run left of the version it produced.
        assert drawn[f"run:{run_ids[1]}"]["x"] < drawn["model:churn/2"]["x"]
        shot(page, "ml-lineage")

        page.goto("/ui/ml/compare?runs=" + run_ids[0])
        assert "at least two runs" in page.inner_text("main")
        response = page.goto("/ui/ml/experiments/999999")
        assert response.status == 404


def _png(width: int = 4, height: int = 3) -> bytes:
    """A tiny valid PNG, written by hand so the test needs no imaging library."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x0f\x6b\x5c" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                             0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_run_page_with_artifacts_and_mlflow_links(server, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", server.admin_key)
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(server.url)
    mlflow.set_experiment("fraud")
    (tmp_path / "confusion.png").write_bytes(_png())
    with mlflow.start_run(run_name="xgb-final") as active:
        mlflow.log_params({"max_depth": "6", "eta": "0.3"})
        mlflow.set_tags({"team": "risk"})
        for step in range(40):
            mlflow.log_metric("logloss", 0.7 / (1 + step * 0.2), step=step)
        mlflow.log_metric("auc", 0.91)  # one point: drawn as a dot
        mlflow.log_text("artifact_path: model\nflavors:\n  python_function: {}\n", "model/MLmodel")
        mlflow.log_text("amount,label\n12.5,0\n990.0,1\n", "eval/predictions.csv")
        mlflow.log_dict({"threshold": 0.42}, "config.json")
        mlflow.log_artifact(str(tmp_path / "confusion.png"), artifact_path="plots")
    run_id, experiment_id = active.info.run_id, active.info.experiment_id
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    client.create_registered_model("fraud")
    client.create_model_version("fraud", f"runs:/{run_id}/model", run_id=run_id)

    with browser_page(server.url) as page:
        login(page, server.admin_key)
        # The link the MLflow client prints lands on the run page.
        page.goto(f"/#/experiments/{experiment_id}/runs/{run_id}")
        page.wait_for_url(f"**/ui/ml/runs/{run_id}")
        assert "xgb-final" in page.inner_text("h1")
        assert "fraud v1" in page.inner_text("#overview")
        assert "max_depth" in page.inner_text("#params") and "6" in page.inner_text("#params")
        assert "team" in page.inner_text("#tags")
        metrics = page.inner_text("#metrics")
        assert "logloss" in metrics and "0.91" in metrics
        drawn = {c["title"]: c for c in charts(page, "#charts div.chart")}
        assert drawn["logloss by step"]["series"][0]["points"] == 40
        [auc] = drawn["auc by step"]["series"]
        assert auc["points"] == 1 and auc["data"] == [[0, 0.91]]
        listing = page.inner_text("#artifact-list")
        for name in ("model", "eval", "plots", "config.json"):
            assert name in listing, name
        shot(page, "ml-run")

        page.click("#artifact-list >> text=eval")
        page.click("#artifact-list >> text=predictions.csv")
        table = page.locator("#artifact-preview table")
        assert table.locator("thead").inner_text().split() == ["amount", "label"]
        assert table.locator("tbody tr").count() == 2
        page.click(".crumbs >> text=artifacts")
        page.click("#artifact-list >> text=config.json")
        assert '"threshold": 0.42' in page.inner_text("#artifact-preview pre")
        page.click("#artifact-list >> text=plots")
        page.click("#artifact-list >> text=confusion.png")
        image = page.locator("#artifact-preview img")
        assert image.evaluate("img => img.complete && img.naturalWidth") == 4
        shot(page, "ml-run-artifact-image")
        page.click(".crumbs >> text=artifacts")
        page.click("#artifact-list >> text=model")
        page.click("#artifact-list >> text=MLmodel")
        assert "python_function" in page.inner_text("#artifact-preview pre")
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "ml-run-phone")
        page.set_viewport_size({"width": 1400, "height": 900})

        # The experiment, model, version and compare links MLflow forms land too.
        for link, lands in [(f"/#/experiments/{experiment_id}", f"/ui/ml/experiments/{experiment_id}"),
                            ("/#/models/fraud", "/ui/ml/models/fraud"),
                            ("/#/models/fraud/versions/1", "/ui/ml/models/fraud/versions/1"),
                            (f'/#/compare-runs?runs=["{run_id}","x"]',
                             f"/ui/ml/compare?runs={run_id}&runs=x"),
                            ("/#/something-else", "/ui")]:
            page.goto(link)
            page.wait_for_url(f"**{lands}")

        # An artifact is never served as a page of this origin.
        raw = page.request.get(f"/ui/ml/runs/{run_id}/artifact?path=config.json")
        assert raw.headers["content-type"] == "application/octet-stream"
        assert "sandbox" in raw.headers["content-security-policy"]
        assert page.request.get(f"/ui/ml/runs/{run_id}/artifact?path=../x").status == 400
        assert page.goto(f"/ui/ml/runs/{run_id}?artifact=nope.txt").status == 404

        # Followed before logging in, the link comes back to the run after the login.
        page.context.clear_cookies()
        page.goto(f"/#/experiments/{experiment_id}/runs/{run_id}")
        page.wait_for_url("**/ui/login?next=*")
        page.fill("#api_key", server.admin_key)
        page.click("button[type=submit]")
        page.wait_for_url(f"**/ui/ml/runs/{run_id}")
