"""The eval gate of a rollout: a candidate (a prompt version or a fine-tuned model) moves
onto a route only if its eval run on the pinned dataset is not worse than the baseline's.

"Not worse" is the comparison ``triops eval compare`` prints: per scorer, the bootstrap
interval of the paired differences (candidate − baseline, case by case). The gate passes
when, for every scorer it checks, the interval's lower end is at least ``-max_drop``:
a drop larger than that is unlikely to be noise. Then the candidate joins the route as a
canary holding ``canary_percent`` of the traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from triops.core.errors import Conflict, InvalidInput
from triops.llm.evals.runs import comparison

#: The audit actions of a rollout whose gate passed (the route changed) and failed.
ROLLED_OUT = "gateway.route.rollout"
REFUSED = "gateway.route.rollout_refused"
ACTIONS = (ROLLED_OUT, REFUSED)


@dataclass(frozen=True)
class Gate:
    passed: bool
    reasons: list[str]
    deltas: list[dict[str, Any]]
    dataset: str


def judge(session: Session, project: str, baseline_run: str, candidate_run: str, *,
          scorers: list[str] | None = None, max_drop: float = 0.0) -> Gate:
    """Whether the candidate run holds up against the baseline run."""
    found = comparison(session, project, baseline_run, candidate_run)
    base, cand = found["a"], found["b"]
    for run in (base, cand):
        if run["status"] != "finished":
            raise Conflict(f"eval run {run['id']} is {run['status']}; gate on finished runs")
    if base["dataset"] != cand["dataset"] or "@" not in cand["dataset"]:
        raise InvalidInput("both runs must be on the same pinned dataset version "
                           f"(dataset: name@N), not {base['dataset']!r} and "
                           f"{cand['dataset']!r}")
    deltas = {d["scorer"]: d for d in found["deltas"]}
    wanted = scorers or sorted(deltas)
    missing = [s for s in wanted if s not in deltas]
    if missing or not wanted:
        raise InvalidInput(f"scorer(s) {', '.join(missing) or '(none)'} not run by both runs")
    reasons = []
    for name in wanted:
        d = deltas[name]
        if d["ci_low"] < -max_drop:
            reasons.append(f"{name}: {d['mean_b']:.3f} vs {d['mean_a']:.3f}, the 95% interval "
                           f"of the change reaches {d['ci_low']:.3f} (allowed: {-max_drop:.3f})")
    return Gate(passed=not reasons, reasons=reasons, deltas=[deltas[n] for n in wanted],
                dataset=cand["dataset"])


def canary(deployments: list[dict[str, Any]], candidate: dict[str, Any],
           percent: float) -> list[dict[str, Any]]:
    """The route's deployments with the candidate holding ``percent`` of the weight.

    >>> canary([{"upstream": "a", "model": "m", "weight": 1.0}],
    ...        {"upstream": "a", "model": "ft:m"}, 10)
    [{'upstream': 'a', 'model': 'm', 'weight': 90.0}, {'upstream': 'a', 'model': 'ft:m', 'weight': 10.0}]
    """
    if not 0 < percent < 100:
        raise InvalidInput("canary_percent must lie between 0 and 100")
    others = [d for d in deployments
              if (d["upstream"], d["model"]) != (candidate["upstream"], candidate["model"])]
    total = sum(float(d.get("weight", 1.0)) for d in others)
    if not others or total <= 0:
        raise InvalidInput("the route has no other deployment to share traffic with")
    share = 100.0 - percent
    return [*({**d, "weight": round(float(d.get("weight", 1.0)) / total * share, 6)}
              for d in others),
            {"upstream": candidate["upstream"], "model": candidate["model"],
             "weight": float(percent)}]
