"""Where a run's or a logged model's artifacts lie in the server's artifact store.

Artifacts go through the server's MLflow artifact proxy (``mlflow-artifacts:/<path>``),
scoped by project: ``mlflow/<project>/<path>`` in the store. The proxy, the run page's
artifact browser and the serving loaders all resolve a URI the same way.
"""

from __future__ import annotations

from triops.core.errors import InvalidInput
from triops.store.artifacts import safe_relpath

PROXY_SCHEME = "mlflow-artifacts:"


def proxy_path(uri: str) -> str:
    """The path under the proxy of an ``mlflow-artifacts:`` URI.

    >>> proxy_path("mlflow-artifacts:/3/abc/artifacts")
    '3/abc/artifacts'
    """
    if not uri.startswith(PROXY_SCHEME):
        raise InvalidInput(f"artifacts at {uri!r} are not served by this server")
    return uri[len(PROXY_SCHEME):].lstrip("/")


def store_path(project: str, rel: str) -> str:
    """The store path of ``rel`` (a path under the proxy) in ``project``; ``rel`` is a
    user's path, so it is normalised and refused if it tries to leave the project.

    >>> store_path("default", "3/abc/artifacts/model/MLmodel")
    'mlflow/default/3/abc/artifacts/model/MLmodel'
    """
    clean = safe_relpath(rel)
    return f"mlflow/{project}/{clean}" if clean else f"mlflow/{project}"


def under(project: str, artifact_uri: str, rel: str = "") -> str:
    """The store path of ``rel`` under a run's or logged model's ``artifact_uri``."""
    root = proxy_path(artifact_uri)
    clean = safe_relpath(rel)
    return store_path(project, f"{root}/{clean}" if clean else root)
