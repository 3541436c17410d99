#!/usr/bin/env python3
"""The linear-probe stage of lp-ft in PyTorch, for tests/methods/lp_ft_test.cpp.

Reads IN (safetensors): features [N, D], labels [N], weight [C, D], bias [C], orders [E, N]
(each epoch's visiting order) and hyper [5] = (batch_size, lr, momentum, weight_decay,
label_smoothing); trains the head with torch.optim.SGD exactly as described and writes the
final weight and bias to OUT.
"""
import sys

import torch
from safetensors_io import load, save  # tools/safetensors_io.py


def main(src, dst):
    t = load(src)
    x, y = t["features"].double(), t["labels"].long()
    batch, lr, momentum, wd, smoothing = t["hyper"].double().tolist()
    batch = int(batch)
    w = t["weight"].double().clone().requires_grad_(True)
    b = t["bias"].double().clone().requires_grad_(True)
    sgd = torch.optim.SGD([w, b], lr=lr, momentum=momentum, weight_decay=wd)
    for order in t["orders"].long():
        for begin in range(0, len(order), batch):
            rows = order[begin:begin + batch]
            sgd.zero_grad()
            logits = torch.nn.functional.linear(x[rows], w, b)
            torch.nn.functional.cross_entropy(logits, y[rows], label_smoothing=smoothing).backward()
            sgd.step()
    save(dst, {"weight": w.detach().float(), "bias": b.detach().float()})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
