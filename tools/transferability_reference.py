#!/usr/bin/env python3
"""Transferability scores computed directly with numpy, for tests/search/transferability_test.cpp.

Reads IN (safetensors): features [N, D], labels [N], probs [N, Z] (a source head's softmax) and
classes [1]; writes OUT with logme, leep, nce and hscore, each a float64 scalar. Written from the
papers' definitions, independently of aft's C++: LogME through the eigenvectors of F^T F (aft
uses the SVD of F), LEEP and NCE by counting, H-score with numpy's covariance and pseudo-inverse.
"""
import sys

import numpy as np
import torch
from safetensors_io import load, save  # tools/safetensors_io.py


def logme(f, y, classes):
    n, d = f.shape
    values, vectors = np.linalg.eigh(f.T @ f)
    values = np.clip(values, 0, None)
    scores = []
    for k in range(classes):
        t = (y == k).astype(np.float64)
        proj = vectors.T @ (f.T @ t)
        alpha, beta = 1.0, 1.0
        for _ in range(100):
            m = vectors @ (beta * proj / (alpha + beta * values))
            gamma = np.sum(beta * values / (alpha + beta * values))
            new_alpha = gamma / (m @ m)
            new_beta = (n - gamma) / np.sum((t - f @ m) ** 2)
            change = abs(new_alpha / new_beta - alpha / beta) / (alpha / beta)
            alpha, beta = new_alpha, new_beta
            if change < 1e-10:
                break
        m = vectors @ (beta * proj / (alpha + beta * values))
        err = np.sum((t - f @ m) ** 2)
        evidence = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - 0.5 * np.sum(np.log(alpha + beta * values))
                    - beta / 2 * err - alpha / 2 * (m @ m) - n / 2 * np.log(2 * np.pi))
        scores.append(evidence / n)
    return float(np.mean(scores))


def leep(probs, y, classes):
    n, z = probs.shape
    joint = np.zeros((classes, z))
    for i in range(n):
        joint[y[i]] += probs[i] / n
    conditional = joint / joint.sum(axis=0, keepdims=True)
    return float(np.mean([np.log(np.sum(conditional[y[i]] * probs[i])) for i in range(n)]))


def nce(probs, y, classes):
    n, z = probs.shape
    hard = probs.argmax(axis=1)
    joint = np.zeros((classes, z))
    for i in range(n):
        joint[y[i], hard[i]] += 1.0 / n
    marginal = joint.sum(axis=0)
    total = 0.0
    for a in range(classes):
        for b in range(z):
            if joint[a, b] > 0:
                total += joint[a, b] * np.log(joint[a, b] / marginal[b])
    return float(total)


def hscore(f, y, classes):
    cov_f = np.cov(f, rowvar=False)
    g = np.zeros_like(f)
    for k in range(classes):
        g[y == k] = f[y == k].mean(axis=0)
    cov_g = np.cov(g, rowvar=False)
    return float(np.trace(np.linalg.pinv(cov_f, rcond=1e-15) @ cov_g))


def main(src, dst):
    t = load(src)
    f = t["features"].double().numpy()
    y = t["labels"].long().numpy()
    probs = t["probs"].double().numpy()
    classes = int(t["classes"].long().item())
    out = {name: torch.tensor([fn(*args)], dtype=torch.float64)
           for name, fn, args in [("logme", logme, (f, y, classes)), ("leep", leep, (probs, y, classes)),
                                  ("nce", nce, (probs, y, classes)), ("hscore", hscore, (f, y, classes))]}
    save(dst, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
