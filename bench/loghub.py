"""Loghub-2k: triops' template miner side by side with Drain3, on the same files.

    python bench/loghub.py [--data /work/shared/datasets/loghub2k] [--systems HDFS,BGL]
                           [--repeat 5] [--no-drain3] [--truth original|corrected]

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
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import peer_venv

from triops.ops.logmining import LogFormat, TemplateMiner, read_lines

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


def triops_parser(contents: Sequence[str]) -> tuple[list[object], list[str]]:
    miner = TemplateMiner()
    ids = [miner.add(c).template_id for c in contents]
    final = [miner.resolve(i) for i in ids]
    return final, [miner.template(i).text for i in final]


def run_drain3(systems: dict[str, list[str]], repeat: int) -> dict[str, dict]:
    """Drain3 from PyPI in its own venv (it pins cachetools 4, which triops' stack outgrew)."""
    python = peer_venv.ensure("drain3", ["drain3==0.9.11"])
    job = json.dumps({"repeat": repeat, "masking": DRAIN3_MASKING, "systems": systems})
    done = subprocess.run([str(python), str(PEERS / "drain3_parse.py")], input=job,
                          capture_output=True, text=True, check=True)
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


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--systems", default="", help="comma-separated; default: every folder")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-drain3", action="store_true")
    ap.add_argument("--truth", choices=("original", "corrected"), default="original")
    args = ap.parse_args(argv)

    wanted = [s for s in args.systems.split(",") if s] or [
        s for s in SYSTEMS if (args.data / s).is_dir()
    ]
    names = ["triops"] if args.no_drain3 else ["triops", "Drain3"]
    loaded = {system: load_system(args.data / system, system, args.truth) for system in wanted}
    drain3 = {} if args.no_drain3 else run_drain3(
        {system: loaded[system][0] for system in wanted}, args.repeat)
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
