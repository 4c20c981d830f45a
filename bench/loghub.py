"""Loghub-2k: triops' template miner side by side with Drain3, on the same files.

    python bench/loghub.py [--data /work/shared/datasets/loghub2k] [--systems HDFS,BGL]
                           [--repeat 5] [--no-drain3] [--truth original|corrected]
    python bench/loghub.py --loso [--systems ...] [--truth ...]

For every system folder (``<S>_2k.log``, ``<S>_2k.log_structured.csv``, ``FORMAT``)
both parsers read the same lines, split by the same format, and are scored against
the ground truth:

* **GA**, grouping accuracy (Zhu et al., ICSE-SEIP 2019), computed as logparser's
  ``evaluator.py`` does: a line counts as correct when the set of lines its parser
  put in its group equals its ground-truth group (``EventId``).
* **PA**, parsing accuracy (as in Jiang et al. 2024): a line counts as correct when its
  template string equals the ground-truth template after one normalisation applied to
  both: runs of whitespace become one space, the ends are stripped, and adjacent
  wildcards (``<*><*>``) become one ``<*>``. Drain3's named masks (``<:NUM:>``) count
  as ``<*>``.
* **lines/s**: mining throughput of the message parts (the format split is the same
  for both and not timed), best of ``--repeat`` runs, each with a fresh parser;
  Drain3 in its own venv (``bench/.venvs/drain3``, installed from PyPI on first use).

Drain3 runs with its default settings plus the masking of its own example
configuration (``examples/drain3.ini``: hex ids, IPv4, hex and number sequences,
``0x`` hex, integers).

``--loso`` is leave-one-system-out cross-validation of the miner's settings
(:data:`GRID`: similarity threshold, prefix depth, evidence, masking set). Every
setting is scored on every system; for each held-out system the setting with the
best mean GA on the *other* systems is chosen (ties: better mean PA, then grid
order) and scored on the held-out one. Reported: the held-out-fold mean GA/PA, the
in-sample figure (the setting chosen on all systems, scored on them), and for every
value of every setting the held-out mean with that value fixed, which is how the
defaults of :class:`MinerConfig` are chosen.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import peer_venv

from triops.ops.logmining import LogFormat, MinerConfig, TemplateMiner, read_lines

PEERS = Path(__file__).resolve().parent / "peers"

DEFAULT_DATA = Path("/work/shared/datasets/loghub2k")
SYSTEMS = [
    "HDFS",
    "Hadoop",
    "Spark",
    "Zookeeper",
    "BGL",
    "HPC",
    "Thunderbird",
    "Windows",
    "Linux",
    "Android",
    "HealthApp",
    "Apache",
    "Proxifier",
    "OpenSSH",
    "OpenStack",
    "Mac",
]
# Drain's published grouping accuracy (Zhu et al. 2019, Table 3).
DRAIN_PUBLISHED = {
    "HDFS": 0.998, "Hadoop": 0.948, "Spark": 0.920, "Zookeeper": 0.967, "BGL": 0.963,
    "HPC": 0.887, "Thunderbird": 0.955, "Windows": 0.997, "Linux": 0.690,
    "Android": 0.911, "HealthApp": 0.780, "Apache": 1.000, "Proxifier": 0.527,
    "OpenSSH": 0.788, "OpenStack": 0.733, "Mac": 0.787,
}  # fmt: skip
DRAIN3_MASKING = [
    (r"((?<=[^A-Za-z0-9])|^)(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))((?=[^A-Za-z0-9])|$)", "ID"),
    (r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})((?=[^A-Za-z0-9])|$)", "IP"),
    (r"((?<=[^A-Za-z0-9])|^)([0-9a-f]{6,} ?){3,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)([0-9A-F]{4} ?){4,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)(0x[a-f0-9A-F]+)((?=[^A-Za-z0-9])|$)", "HEX"),
    (r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "NUM"),
]
_DRAIN3_MASK = re.compile(r"<:[A-Z]+:>")
_SPACES = re.compile(r"\s+")
_WILDCARDS = re.compile(r"(?:<\*>)+")

Parser = Callable[[Sequence[str]], tuple[list[object], list[str]]]


def grouping_accuracy(truth: Sequence[object], parsed: Sequence[object]) -> float:
    """logparser's ``get_accuracy``: lines in parsed groups that equal a truth group."""
    truth_sizes = Counter(truth)
    groups: dict[object, list[object]] = defaultdict(list)
    for t, p in zip(truth, parsed, strict=True):
        groups[p].append(t)
    correct = 0
    for members in groups.values():
        first = members[0]
        if truth_sizes[first] == len(members) and all(m == first for m in members):
            correct += len(members)
    return correct / len(truth) if truth else 1.0


def normalise_template(template: str) -> str:
    template = _DRAIN3_MASK.sub("<*>", template)
    template = _SPACES.sub(" ", template).strip()
    return _WILDCARDS.sub("<*>", template)


def parsing_accuracy(truth: Sequence[str], parsed: Sequence[str]) -> float:
    ok = sum(
        normalise_template(a) == normalise_template(b) for a, b in zip(truth, parsed, strict=True)
    )
    return ok / len(truth) if truth else 1.0


def triops_parser(
    contents: Sequence[str], config: MinerConfig | None = None
) -> tuple[list[object], list[str]]:
    miner = TemplateMiner(config)
    ids = [miner.add(c).template_id for c in contents]
    final = [miner.resolve(i) for i in ids]
    return final, [miner.template(i).text for i in final]


def run_drain3(systems: dict[str, list[str]], repeat: int) -> dict[str, dict]:
    """Drain3 from PyPI in its own venv (it pins cachetools 4, which triops' stack outgrew)."""
    python = peer_venv.ensure("drain3", ["drain3==0.9.11"])
    job = json.dumps({"repeat": repeat, "masking": DRAIN3_MASKING, "systems": systems})
    done = subprocess.run(
        [str(python), str(PEERS / "drain3_parse.py")],
        input=job,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def load_system(
    folder: Path, system: str, truth_kind: str
) -> tuple[list[str], list[str], list[str]]:
    log_format = LogFormat.parse((folder / "FORMAT").read_text(encoding="utf-8").strip())
    with open(folder / f"{system}_2k.log", "rb") as stream:
        contents = []
        for line in read_lines(stream):
            fields = log_format.split(line)
            contents.append(fields["Content"] if fields is not None else line.strip())
    suffix = "_corrected" if truth_kind == "corrected" else ""
    with open(
        folder / f"{system}_2k.log_structured{suffix}.csv", encoding="utf-8", newline=""
    ) as f:
        rows = list(csv.DictReader(f))
    if len(rows) != len(contents):
        raise SystemExit(f"{system}: {len(contents)} log lines but {len(rows)} ground-truth rows")
    return contents, [r["EventId"] for r in rows], [r["EventTemplate"] for r in rows]


def measure(
    parser: Parser, contents: Sequence[str], repeat: int
) -> tuple[list[object], list[str], float]:
    best = float("inf")
    ids: list[object] = []
    templates: list[str] = []
    for _ in range(repeat):
        start = time.perf_counter()
        ids, templates = parser(contents)
        best = min(best, time.perf_counter() - start)
    return ids, templates, len(contents) / best


# The settings cross-validated by --loso; the masking set is the two masking toggles.
GRID: dict[str, tuple[object, ...]] = {
    "similarity": (0.7, 0.8, 0.9, 1.0),
    "prefix": (0, 1, 2),
    "prefix_factor": (2, 3, 4),
    "distinct": (2, 3, 4),
    "masking": ("digit_words+timestamps", "digit_words", "timestamps", "none"),
}
_MASKS = ("digit_words", "timestamps")


def grid_config(setting: dict[str, object]) -> MinerConfig:
    masks = str(setting["masking"]).split("+")
    values = {k: v for k, v in setting.items() if k != "masking"}
    return MinerConfig(**values, **{m: m in masks for m in _MASKS})  # type: ignore[arg-type]


Scores = dict[tuple[object, ...], dict[str, tuple[float, float]]]


def score_grid(loaded: dict[str, tuple[list[str], list[str], list[str]]]) -> Scores:
    """GA and PA of every grid setting on every system."""
    scores: Scores = {}
    for values in itertools.product(*GRID.values()):
        config = grid_config(dict(zip(GRID, values)))
        per_system = scores[values] = {}
        for system, (contents, truth_ids, truth_templates) in loaded.items():
            ids, templates = triops_parser(contents, config)
            per_system[system] = (
                grouping_accuracy(truth_ids, ids),
                parsing_accuracy(truth_templates, templates),
            )
    return scores


def _choose(scores: Scores, systems: Sequence[str]) -> tuple[object, ...]:
    """The setting with the best mean GA over ``systems`` (ties: PA, then grid order)."""

    def mean(values: tuple[object, ...], k: int) -> float:
        return sum(scores[values][s][k] for s in systems) / len(systems)

    return max(scores, key=lambda v: (round(mean(v, 0), 9), round(mean(v, 1), 9)))


def loso(scores: Scores, systems: Sequence[str]) -> tuple[float, float, dict[str, tuple]]:
    """Held-out mean GA and PA, and per held-out system its chosen setting and scores."""
    folds = {}
    for held in systems:
        chosen = _choose(scores, [s for s in systems if s != held])
        folds[held] = (chosen, *scores[chosen][held])
    n = len(systems)
    return (
        sum(f[1] for f in folds.values()) / n,
        sum(f[2] for f in folds.values()) / n,
        folds,
    )


def _describe(values: tuple[object, ...]) -> str:
    return ", ".join(f"{k}={v}" for k, v in zip(GRID, values))


def report_loso(loaded: dict[str, tuple[list[str], list[str], list[str]]]) -> None:
    systems = list(loaded)
    start = time.perf_counter()
    scores = score_grid(loaded)
    final = _choose(scores, systems)
    ga, pa, folds = loso(scores, systems)
    in_ga = sum(scores[final][s][0] for s in systems) / len(systems)
    in_pa = sum(scores[final][s][1] for s in systems) / len(systems)
    print(
        f"Leave-one-system-out over {len(systems)} systems, {len(scores)} settings "
        f"({time.perf_counter() - start:.0f} s)\n"
    )
    print(
        "| held-out system | held-out GA | held-out PA | in-sample GA | in-sample PA "
        "| setting chosen on the others |"
    )
    print("|---|---|---|---|---|---|")
    for s in systems:
        chosen, fga, fpa = folds[s]
        print(
            f"| {s} | {fga:.3f} | {fpa:.3f} | {scores[final][s][0]:.3f} "
            f"| {scores[final][s][1]:.3f} | {_describe(chosen)} |"
        )
    print(f"| **mean** | **{ga:.3f}** | **{pa:.3f}** | **{in_ga:.3f}** | **{in_pa:.3f}** | |")
    print(f"\nchosen on all systems: {_describe(final)}")
    print("\n| setting | value | held-out GA | held-out PA |\n|---|---|---|---|")
    for k, name in enumerate(GRID):
        for value in GRID[name]:
            subset = {v: r for v, r in scores.items() if v[k] == value}
            sga, spa, _ = loso(subset, systems)
            mark = " (chosen)" if final[k] == value else ""
            print(f"| {name} | {value}{mark} | {sga:.3f} | {spa:.3f} |")
    default = tuple(
        "+".join(m for m in _MASKS if getattr(MinerConfig(), m)) or "none"
        if name == "masking"
        else getattr(MinerConfig(), name)
        for name in GRID
    )
    if default != final:
        print(f"\nMinerConfig defaults differ from the chosen setting: {_describe(default)}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--systems", default="", help="comma-separated; default: every folder")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-drain3", action="store_true")
    ap.add_argument("--truth", choices=("original", "corrected"), default="original")
    ap.add_argument(
        "--loso",
        action="store_true",
        help="leave-one-system-out cross-validation of the miner's settings",
    )
    args = ap.parse_args(argv)

    wanted = [s for s in args.systems.split(",") if s] or [
        s for s in SYSTEMS if (args.data / s).is_dir()
    ]
    names = ["triops"] if args.no_drain3 else ["triops", "Drain3"]
    loaded = {system: load_system(args.data / system, system, args.truth) for system in wanted}
    if args.loso:
        report_loso(loaded)
        return 0
    drain3 = (
        {}
        if args.no_drain3
        else run_drain3({system: loaded[system][0] for system in wanted}, args.repeat)
    )
    head = (
        ["system"]
        + [f"{n} {m}" for n in names for m in ("GA", "PA", "lines/s")]
        + ["Drain (paper) GA"]
    )
    print(f"Loghub-2k, {args.truth} ground truth, best of {args.repeat} runs\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    totals: dict[str, list[float]] = defaultdict(list)
    for system in wanted:
        contents, truth_ids, truth_templates = loaded[system]
        cells = [system]
        best = {"triops": measure(triops_parser, contents, args.repeat)}
        if system in drain3:
            peer = drain3[system]
            best["Drain3"] = (peer["ids"], peer["templates"], peer["lines_per_s"])
        for name in names:
            ids, templates, speed = best[name]
            ga = grouping_accuracy(truth_ids, ids)
            pa = parsing_accuracy(truth_templates, templates)
            totals[f"{name} GA"].append(ga)
            totals[f"{name} PA"].append(pa)
            totals[f"{name} lines/s"].append(speed)
            cells += [f"{ga:.3f}", f"{pa:.3f}", f"{speed:,.0f}"]
        published = DRAIN_PUBLISHED.get(system)
        if published is not None:
            totals["paper"].append(published)
        cells.append(f"{published:.3f}" if published is not None else "")
        print("| " + " | ".join(cells) + " |", flush=True)
    avg = ["**average**"]
    for name in names:
        for metric in ("GA", "PA"):
            values = totals[f"{name} {metric}"]
            avg.append(f"**{sum(values) / len(values):.3f}**")
        speeds = totals[f"{name} lines/s"]
        avg.append(f"**{sum(speeds) / len(speeds):,.0f}**")
    paper = totals["paper"]
    avg.append(f"**{sum(paper) / len(paper):.3f}**" if paper else "")
    print("| " + " | ".join(avg) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
