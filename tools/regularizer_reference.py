#!/usr/bin/env python3
"""Reference values for the delta and bss methods, computed directly in PyTorch, for
tests/methods/delta_test.cpp and bss_test.cpp. Runs with Debian's python3-torch.

  regularizer_reference.py delta IN OUT
      IN: target.L, source.L (feature maps [N, C, H, W] or tokens [N, T, D]) and weight.L
      ([C]) for L = 0, 1, ...; OUT: penalty (scalar) and grad.L (d penalty / d target.L), where
      penalty = mean over images of 1/2 sum_L sum_c weight.L[c] * ||target - source||^2 over
      channel c's positions / positions.
  regularizer_reference.py bss IN OUT
      IN: features.I [N, D] and k.I ([1]) for cases I = 0, 1, ...; OUT: penalty.I = sum of the
      k smallest squared singular values (from torch.svd of the transposed matrix, as TLlib)
      and grad.I (d penalty / d features.I).
  regularizer_reference.py attention IN OUT LAYER...
      IN: a torchvision resnet18's state dict (small 3x3 stem) and images.B, labels.B;
      OUT: rise.L and attention.L for each named block: the mean over batches of the
      cross-entropy rise when one output channel of the block is zeroed (a forward hook),
      and softmax(standardised rise / 5).
"""
import sys

import torch
import torch.nn.functional as F
import torchvision

from safetensors_io import load, save  # tools/safetensors_io.py


def count(tensors, prefix):
    return len([k for k in tensors if k.startswith(prefix + ".")])


def delta(t):
    out = {}
    total = torch.zeros((), dtype=torch.float64)
    for layer in range(count(t, "target")):
        tgt = t[f"target.{layer}"].double().requires_grad_(True)
        src = t[f"source.{layer}"].double()
        w = t[f"weight.{layer}"].double()
        if tgt.dim() == 3:  # tokens [N, T, D]: channels last
            diff = (tgt - src).permute(0, 2, 1)
        else:
            diff = tgt - src
        n, c = diff.shape[0], diff.shape[1]
        per_channel = diff.reshape(n, c, -1)
        positions = per_channel.shape[2]
        term = sum(0.5 * w[ch] * (per_channel[i, ch] ** 2).sum() / positions
                   for i in range(n) for ch in range(c)) / n
        (grad,) = torch.autograd.grad(term, tgt)
        out[f"grad.{layer}"] = grad.float()
        total = total + term.detach()
    out["penalty"] = total.float()
    return out


def bss(t):
    out = {}
    for case in range(count(t, "features")):
        f = t[f"features.{case}"].double().requires_grad_(True)
        _, s, _ = torch.svd(f.t())
        k = min(int(t[f"k.{case}"].item()), s.numel())
        penalty = sum(s[s.numel() - 1 - i] ** 2 for i in range(k))
        (grad,) = torch.autograd.grad(penalty, f)
        out[f"penalty.{case}"] = penalty.detach().float()
        out[f"grad.{case}"] = grad.float()
    return out


def attention(t, layers):
    state = {k[len("model."):]: v for k, v in t.items() if k.startswith("model.")}
    classes = state["fc.weight"].shape[0]
    width = state["conv1.weight"].shape[0]
    model = torchvision.models.resnet18(num_classes=classes)
    assert width == model.conv1.out_channels, "the reference builds a width-1 resnet18"
    model.conv1 = torch.nn.Conv2d(3, width, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = torch.nn.Identity()
    model.load_state_dict(state)
    model.eval()
    batches = count(t, "images")
    out = {}
    with torch.no_grad():
        for li, name in enumerate(layers):
            stage, index = name.split(".")
            block = getattr(model, stage)[int(index)]
            channels = block.conv2.out_channels
            rise = torch.zeros(channels, dtype=torch.float64)
            for b in range(batches):
                x, y = t[f"images.{b}"], t[f"labels.{b}"].long()
                base = F.cross_entropy(model(x), y).double()
                for ch in range(channels):
                    def zero(module, inputs, output, ch=ch):
                        output = output.clone()
                        output[:, ch] = 0
                        return output
                    handle = block.register_forward_hook(zero)
                    rise[ch] += F.cross_entropy(model(x), y).double() - base
                    handle.remove()
            rise /= batches
            z = (rise - rise.mean()) / rise.std(unbiased=False)
            out[f"rise.{li}"] = rise
            out[f"attention.{li}"] = torch.softmax(z / 5, 0).float()
    return out


def main(argv):
    mode, src, dst = argv[1], argv[2], argv[3]
    t = load(src)
    if mode == "delta":
        save(dst, delta(t))
    elif mode == "bss":
        save(dst, bss(t))
    elif mode == "attention":
        save(dst, attention(t, argv[4:]))
    else:
        raise SystemExit(f"unknown mode {mode}; expected delta, bss or attention")


if __name__ == "__main__":
    main(sys.argv)
