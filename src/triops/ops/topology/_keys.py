"""Node types, edge types and node keys.

A node's key is the subject string that signals about the entity carry (see
:mod:`triops.core.signals`), so an incident's subject names its place in the graph.
"""

from __future__ import annotations

# Node types, with the shape of their keys.
SERVICE = "service"  # service:<service.name>
HOST = "host"  # host:<host.name>
CONTAINER = "container"  # container:<container.id>
POD = "pod"  # pod:<k8s.pod.name>
SERIES = "series"  # series:<series key>, as detection names its anomaly subjects
DATASET = "dataset"  # dataset:<name>@<digest>
RUN = "run"  # run:<run id>
MODEL = "model"  # model:<name> (registered model)
MODEL_VERSION = "model_version"  # model:<name>/<version>
MODEL_ALIAS = "model_alias"  # model:<name>@<alias>
ENDPOINT = "endpoint"  # endpoint:<name> (a deployment)
PROMPT = "prompt"  # prompt:<name>
PROMPT_LABEL = "prompt_label"  # prompt:<name>@<label>
ROUTE = "route"  # route:<gateway alias>
UPSTREAM = "upstream"  # upstream:<gateway upstream>
MONITOR = "monitor"  # monitor:<name>

NODE_TYPES = (SERVICE, HOST, CONTAINER, POD, SERIES, DATASET, RUN, MODEL, MODEL_VERSION,
              MODEL_ALIAS, ENDPOINT, PROMPT, PROMPT_LABEL, ROUTE, UPSTREAM, MONITOR)

# Edge types: ``src <type> dst``.
CALLS = "calls"  # service calls service
RUNS_ON = "runs_on"  # service runs on container / pod / host; container on pod; pod on host
MEASURES = "measures"  # metric series measures service / host
TRAINED_ON = "trained_on"  # run trained on dataset
PRODUCED = "produced"  # run produced model version
VERSION_OF = "version_of"  # model version of registered model; prompt label of prompt
LABELS = "labels"  # alias / prompt label points at a version
SERVES = "serves"  # endpoint serves model version (or follows an alias)
USES = "uses"  # prompt label uses gateway route
ROUTES_TO = "routes_to"  # gateway route sends to upstream
WATCHES = "watches"  # monitor watches endpoint

EDGE_TYPES = (CALLS, RUNS_ON, MEASURES, TRAINED_ON, PRODUCED, VERSION_OF, LABELS, SERVES,
              USES, ROUTES_TO, WATCHES)


def key(node_type: str, name: str) -> str:
    """``key("service", "checkout")`` → ``service:checkout``; types sharing a prefix
    (model versions and aliases, prompt labels) are named by their own helpers."""
    prefix = {MODEL_VERSION: MODEL, MODEL_ALIAS: MODEL, PROMPT_LABEL: PROMPT}.get(
        node_type, node_type)
    return f"{prefix}:{name}"


def model_version(name: str, version: int | str) -> str:
    return f"model:{name}/{version}"


def alias(name: str, alias_name: str) -> str:
    return f"model:{name}@{alias_name}"


def prompt_label(name: str, label: str) -> str:
    return f"prompt:{name}@{label}"
