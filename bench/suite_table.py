#!/usr/bin/python3
"""The transfer suite's table (bench/suite.sh): runs/SOURCE/TARGET/METHOD/sSEED/summary.json.

Per source: each method's test accuracy on each target (mean ± std over seeds), its mean rank
over the targets, its trainable parameters (median over targets) and its wall seconds per run
(mean; from the runner's RUN.seconds, else the run's own). Then per target: the winner, and
whether it beats full fine-tuning beyond the seeds' spread (mean - std above full's mean + std).
--markdown prints Markdown tables (for docs/benchmarks.md), --json the numbers.
"""
import json
import os
import statistics
import sys


def load(root):
    """{source: {target: {method: [(seed, summary, seconds)]}}}"""
    runs = {}
    for source in sorted(os.listdir(root)):
        for target in sorted(os.listdir(os.path.join(root, source))):
            tdir = os.path.join(root, source, target)
            if not os.path.isdir(tdir):
                continue
            for method in sorted(os.listdir(tdir)):
                mdir = os.path.join(tdir, method)
                if not os.path.isdir(mdir):
                    continue
                for seed in sorted(os.listdir(mdir)):
                    path = os.path.join(mdir, seed, "summary.json")
                    if not os.path.isfile(path):
                        continue
                    with open(path) as f:
                        summary = json.load(f)
                    seconds = summary.get("seconds")
                    timing = os.path.join(mdir, seed + ".seconds")
                    if os.path.isfile(timing):
                        with open(timing) as f:
                            seconds = float(f.read())
                    runs.setdefault(source, {}).setdefault(target, {}).setdefault(method, []).append(
                        (seed, summary, seconds))
    return runs


def mean_std(values):
    if not values:
        return None, None
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def ranks(means):
    """1 = best; tied means share their average rank."""
    order = sorted(means, key=lambda m: -means[m])
    out, i = {}, 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and means[order[j + 1]] == means[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def analyse(by_target):
    targets = sorted(by_target)
    methods = sorted({m for t in targets for m in by_target[t]})
    cell, rank_sum, rank_n, params, seconds = {}, {}, {}, {}, {}
    verdicts = []
    for t in targets:
        means = {}
        for m, rows in by_target[t].items():
            acc = [r[1]["test_accuracy"] for r in rows]
            mu, sd = mean_std(acc)
            cell[(m, t)] = (mu, sd, len(acc))
            means[m] = mu
            p = [r[1].get("trainable_params") for r in rows if r[1].get("trainable_params") is not None]
            params.setdefault(m, []).extend(p)
            seconds.setdefault(m, []).extend(r[2] for r in rows if r[2] is not None)
        for m, r in ranks(means).items():
            rank_sum[m] = rank_sum.get(m, 0) + r
            rank_n[m] = rank_n.get(m, 0) + 1
        winner = max(means, key=means.get)
        w_mu, w_sd, _ = cell[(winner, t)]
        verdict = {"target": t, "winner": winner, "winner_mean": w_mu, "winner_std": w_sd}
        if "full" in means:
            f_mu, f_sd, _ = cell[("full", t)]
            verdict.update(full_mean=f_mu, full_std=f_sd, beats_full=winner != "full" and w_mu - w_sd > f_mu + f_sd)
            beyond = [m for m in means if m != "full" and cell[(m, t)][0] - cell[(m, t)][1] > f_mu + f_sd]
            verdict["beyond_full"] = sorted(beyond, key=lambda m: -means[m])
        verdicts.append(verdict)
    summary = {}
    for m in methods:
        summary[m] = {
            "mean_rank": rank_sum[m] / rank_n[m],
            "targets": rank_n[m],
            "trainable_params": statistics.median(params[m]) if params.get(m) else None,
            "seconds": statistics.mean(seconds[m]) if seconds.get(m) else None,
        }
    methods.sort(key=lambda m: summary[m]["mean_rank"])
    return targets, methods, cell, summary, verdicts


def fmt_cell(c):
    if c is None:
        return "-"
    mu, sd, n = c
    return "%.3f ± %.3f" % (mu, sd) + ("" if n >= 3 else " (n=%d)" % n)


def print_tables(source, by_target, markdown):
    targets, methods, cell, summary, verdicts = analyse(by_target)
    head = ["method"] + targets + ["mean rank", "trainable", "s/run"]
    rows = []
    for m in methods:
        s = summary[m]
        rows.append([m] + [fmt_cell(cell.get((m, t))) for t in targets] +
                    ["%.2f" % s["mean_rank"] + ("" if s["targets"] == len(targets) else " (%d)" % s["targets"]),
                     "-" if s["trainable_params"] is None else "{:,}".format(int(s["trainable_params"])),
                     "-" if s["seconds"] is None else "%.0f" % s["seconds"]])
    print("source %s: test accuracy, mean ± std over seeds" % source)
    table(head, rows, markdown)
    print()
    vrows = []
    for v in verdicts:
        full = "-" if "full_mean" not in v else "%.3f ± %.3f" % (v["full_mean"], v["full_std"])
        beyond = ", ".join(v.get("beyond_full", [])) or "none"
        vrows.append([v["target"], v["winner"], "%.3f ± %.3f" % (v["winner_mean"], v["winner_std"]), full, beyond])
    table(["target", "winner", "winner acc", "full", "beyond full's spread"], vrows, markdown)
    auto = [(t, r) for t in targets for r in by_target[t].get("auto", [])]
    if auto:
        print()
        for t, (seed, s, _) in auto:
            print("auto on %s %s: chose %s, spent %.2f of the budget" % (t, seed, s.get("chosen"), s.get("budget_spent", 0)))
    print()


def table(head, rows, markdown):
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    for r in [head] + rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip())


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        sys.exit("usage: suite_table.py RUNS_DIR [--markdown] [--json]")
    if not os.path.isdir(args[0]):
        sys.exit("suite_table.py: no runs directory " + args[0])
    runs = load(args[0])
    if "--json" in sys.argv:
        out = {}
        for source, by_target in runs.items():
            targets, methods, cell, summary, verdicts = analyse(by_target)
            out[source] = {"cells": {m: {t: cell.get((m, t)) for t in targets} for m in methods},
                           "methods": summary, "targets": verdicts}
        print(json.dumps(out, indent=2))
        return
    for source, by_target in runs.items():
        print_tables(source, by_target, "--markdown" in sys.argv)


if __name__ == "__main__":
    main()
