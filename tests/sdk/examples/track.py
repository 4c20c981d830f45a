"""An application that only records a training run, as a user of the SDK alone writes it.

Run by ``tests/sdk/test_fresh_venv.py`` in a virtual environment holding the SDK and its
few dependencies; prints the run id.
"""

import os

import triops

with triops.start_run(experiment="sdk-only", url=os.environ["TRIOPS_URL"],
                      api_key=os.environ["TRIOPS_API_KEY"],
                      spool_dir=os.environ["SPOOL_DIR"]) as run:
    run.log_params({"alpha": 0.5})
    for step in range(3):
        run.log_metric("loss", 1.0 / (step + 1), step=step)
assert run.status == "FINISHED" and run.errors == [], run.errors
print(run.run_id)
