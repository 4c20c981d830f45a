"""Runs inside Drain3's own venv: parse the given messages, report ids, templates, speed.

Input (stdin, JSON): {"repeat": N, "masking": [[regex, name], …], "systems": {name: [content, …]}}
Output (stdout, JSON): {name: {"ids": […], "templates": […], "lines_per_s": float}}
"""

import json
import sys
import time

from drain3 import TemplateMiner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig


def parse(contents, masking):
    config = TemplateMinerConfig()
    config.masking_instructions = [MaskingInstruction(p, name) for p, name in masking]
    config.mask_prefix, config.mask_suffix = "<:", ":>"
    config.profiling_enabled = False
    miner = TemplateMiner(config=config)
    ids = [miner.add_log_message(c)["cluster_id"] for c in contents]
    clusters = {c.cluster_id: c.get_template() for c in miner.drain.clusters}
    return ids, [clusters[i] for i in ids]


def main():
    job = json.load(sys.stdin)
    out = {}
    for name, contents in job["systems"].items():
        best = float("inf")
        for _ in range(job["repeat"]):
            start = time.perf_counter()
            ids, templates = parse(contents, job["masking"])
            best = min(best, time.perf_counter() - start)
        out[name] = {"ids": ids, "templates": templates, "lines_per_s": len(contents) / best}
    json.dump(out, sys.stdout)


main()
