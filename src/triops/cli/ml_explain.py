"""``triops ml``: work on local model files, without a server.

    triops ml explain --model model.skops --data rows.csv --output attributions.csv
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from triops.cli.common import console
from triops.core.errors import InvalidInput

# The model loaders and the explainers (pandas, scikit-learn, numba) load in the
# command, not when the command line is built for another verb.
if TYPE_CHECKING:
    from triops.ml.serving.loaders import ModelHandle

ml_app = typer.Typer(help="Local model files: explain predictions.", no_args_is_help=True)


def load_local(path: Path, trust_pickle: bool = False) -> ModelHandle:
    """A model file (.skops, .onnx, ...) or an MLflow model folder, as serving loads it."""
    from triops.ml.serving.loaders import ModelFiles, Trust, load_model
    from triops.store.artifacts import ArtifactStore

    path = path.resolve()
    if not path.exists():
        raise InvalidInput(f"no model at {path}")
    files = ModelFiles(ArtifactStore(str(path.parent)), path.name)
    trust = Trust(pickle=True, files=frozenset(files.digests())) if trust_pickle else Trust()
    return load_model(files, trust=trust)


@ml_app.command()
def explain(
    model: Annotated[Path, typer.Option(help="Model file or MLflow model folder")],
    data: Annotated[Path, typer.Option(help="CSV of rows to explain, one column per feature")],
    output: Annotated[Path, typer.Option(help="CSV to write: one row per input row")],
    background: Annotated[Path | None, typer.Option(
        help="CSV of reference rows for linear and sampling explainers (default: --data)")
    ] = None,
    target: Annotated[str | None, typer.Option(
        "--class", help="Class whose score is explained (default: the last class)")] = None,
    method: Annotated[str | None, typer.Option(
        help="Force an explainer: tree-path-dependent, linear or sampling")] = None,
    trust_pickle: Annotated[bool, typer.Option(
        help="Load a pickle-serialized MLflow model (runs code from the file)")] = False,
) -> None:
    """Write per-row feature attributions (SHAP values) and the base value."""
    import numpy as np
    import pandas as pd

    from triops.ml.explain import explain_frame

    handle = load_local(model, trust_pickle)
    frame = pd.read_csv(data)
    bg = pd.read_csv(background) if background is not None else None
    classes = getattr(handle.native, "classes_", None)
    chosen = None
    if target is not None and classes is not None:
        chosen = next((c for c in classes if str(c) == target), target)
    got = explain_frame(handle, frame, background=bg, target=chosen, method=method)
    table = pd.DataFrame(got.values, columns=got.features)
    table["base_value"] = got.base_values
    table.to_csv(output, index=False, float_format="%.17g")
    console.print(f"{len(table)} rows explained ({got.method}, {got.output}) -> {output}")
    # Local accuracy, shown so that a reader can check the output explained.
    total = got.base_values + got.values.sum(axis=1)
    console.print(f"mean explained output {float(np.mean(total)):.6g}")
