"""The ML pages in headless Chromium: runs logged with the SDK and the stock MLflow
client, filtered, sorted, compared, and a model version's lineage."""

from __future__ import annotations

import pandas as pd
import pytest

import triops
from tests.e2e.browser import browser_page, login, shot

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
    client.set_registered_model_alias("churn", "champion", "2")

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
        assert page.locator("svg.chart polyline.series").count() == 6  # 2 metrics × 3 runs
        diff_rows = page.locator("#param-diff tr.diff td:first-child").all_inner_texts()
        assert sorted(diff_rows) == ["alpha", "depth"]  # "features" is the same everywhere
        shot(page, "ml-compare")

        page.goto("/ui/ml/models")
        assert "@champion → v2" in page.inner_text("#models")
        page.click("#models >> text=churn")
        assert page.locator("#versions tbody tr").count() == 2
        shot(page, "ml-model")
        page.click("#versions tr:has-text('v2') >> text=dataset → run → model")
        chain = page.inner_text("#lineage")
        for expected in ("churn-train", "v1", "churn-holdout", "not registered", "gbm-1",
                         "churn v2", "@champion", "Not deployed"):
            assert expected in chain, expected
        shot(page, "ml-lineage")

        page.goto("/ui/ml/compare?runs=" + run_ids[0])
        assert "at least two runs" in page.inner_text("main")
        response = page.goto("/ui/ml/experiments/999999")
        assert response.status == 404
