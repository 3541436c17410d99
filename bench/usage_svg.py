#!/usr/bin/python3
"""SpotTune's central picture as a standalone SVG: per residual block, the fraction of test
images routed to the tuned path, one bar group per run (bench/spottune_bench.sh).
Usage: bench/usage_svg.py OUT.svg RUN [RUN ...]"""
import json
import os
import sys
from xml.sax.saxutils import escape

out, runs = sys.argv[1], sys.argv[2:]
series = []
for run in runs:
    with open(os.path.join(run, "summary.json")) as f:
        s = json.load(f)
    r = s.get("method_report", {})
    if "tuned_fraction" not in r:
        continue
    series.append((os.path.basename(run.rstrip("/")), r["blocks"], r["tuned_fraction"], r.get("mean_tuned_blocks", 0),
                   s["test_accuracy"]))
if not series:
    sys.exit("usage_svg.py: none of the runs is a SpotTune run")
blocks = series[0][1]
colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
left, top, plot_w, plot_h = 60, 40, 640, 240
group_w = plot_w / len(blocks)
bar_w = group_w * 0.8 / len(series)
svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">'
       % (left + plot_w + 20, top + plot_h + 60 + 18 * len(series)),
       '<rect width="100%" height="100%" fill="white"/>',
       '<text x="%d" y="20" font-size="14">Fraction of test images routed to the tuned copy, per block</text>' % left]
for tick in range(0, 11, 2):
    y = top + plot_h - plot_h * tick / 10
    svg.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (left, left + plot_w, y, y))
    svg.append('<text x="%d" y="%.1f" text-anchor="end">%.1f</text>' % (left - 6, y + 4, tick / 10))
for b, name in enumerate(blocks):
    x0 = left + b * group_w + group_w * 0.1
    for k, (_, _, usage, _, _) in enumerate(series):
        h = plot_h * usage[b]
        svg.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>'
                   % (x0 + k * bar_w, top + plot_h - h, bar_w - 1, h, colours[k % len(colours)]))
    svg.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (left + (b + 0.5) * group_w, top + plot_h + 16,
                                                                          escape(name)))
for k, (name, _, _, mean, acc) in enumerate(series):
    y = top + plot_h + 40 + 18 * k
    svg.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>' % (left, y - 10, colours[k % len(colours)]))
    svg.append('<text x="%d" y="%d">%s: %.2f tuned blocks per image, test accuracy %.3f</text>'
               % (left + 18, y, escape(name), mean, acc))
svg.append("</svg>")
with open(out, "w") as f:
    f.write("\n".join(svg) + "\n")
