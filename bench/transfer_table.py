#!/usr/bin/python3
"""Aggregates bench/transfer_bench.sh's runs: mean and std over seeds per method."""
import json
import os
import statistics
import sys

root, seeds = sys.argv[1], sys.argv[2:]
rows = {}
order = []
for s in seeds:
    runs = os.path.join(root, "seed" + s, "runs")
    for name in sorted(os.listdir(runs)):
        path = os.path.join(runs, name, "summary.json")
        if name.startswith("source") or not os.path.exists(path):
            continue
        with open(path) as f:
            summary = json.load(f)
        if name not in rows:
            rows[name] = []
            order.append(name)
        rows[name].append(summary)


def stat(values):
    if not values:
        return "-"
    mean = statistics.mean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return "%.3f ± %.3f" % (mean, std)


print("| method | test acc (mean ± std, %d seeds) | trainable params | seconds (mean) |" % len(seeds))
print("|---|---|---|---|")
first = ["scratch", "linear", "full", "l2sp", "auto-rgn", "partial", "soup", "spottune", "contribution", "multisource"]
for name in sorted(order, key=lambda n: first.index(n) if n in first else len(first)):
    acc = [r["test_accuracy"] for r in rows[name]]
    params = [r.get("trainable_params", 0) for r in rows[name] if "trainable_params" in r]
    secs = [r["seconds"] for r in rows[name] if "seconds" in r]
    print("| %s | %s | %s | %s |" % (name, stat(acc), "%d" % params[0] if params else "-",
                                     "%.1f" % statistics.mean(secs) if secs else "-"))
