#!/usr/bin/python3
"""PyTorch references for aft's lora and oft methods (tests/methods/lora_test.cpp, oft_test.cpp).

  peft_reference.py lora IN OUT
      IN: x, weight, lora_A, lora_B, scale [1], and for a conv stride [1] and padding [1].
      OUT: y = layer(x) + scale * B(A(x)), the adapter run as a side path beside the layer
      (linear: x A^T B^T; conv: A as a conv with the layer's kernel, stride and padding, then
      B as a 1x1 conv), i.e. the paper's formulation, not aft's folded weight.
  peft_reference.py cayley IN OUT
      IN: q [b, n, n], weight [b*n, ...]. OUT: r [b, n, n] = (I + S)(I - S)^-1 with
      S = (q - q^T)/2 (explicit inverse), and adapted = block_diag(r) @ weight.
  peft_reference.py torchvision WEIGHTS INPUT OUT
      Builds torchvision's model from WEIGHTS' metadata (arch, num_classes, stem, image_size),
      loads WEIGHTS strictly and writes the eval-mode logits of INPUT's tensor `input`.
"""
import json
import re
import struct
import sys

import torch
import torch.nn.functional as F

from safetensors_io import load, save  # tools/safetensors_io.py


def lora(src, dst):
    t = load(src)
    x, w, a, b, scale = t["x"].double(), t["weight"].double(), t["lora_A"].double(), t["lora_B"].double(), \
        float(t["scale"][0])
    if w.dim() == 2:
        y = F.linear(x, w) + scale * F.linear(F.linear(x, a), b)
    else:
        stride, padding = int(t["stride"][0]), int(t["padding"][0])
        y = F.conv2d(x, w, stride=stride, padding=padding) + \
            scale * F.conv2d(F.conv2d(x, a, stride=stride, padding=padding), b)
    save(dst, {"y": y.float()})


def cayley(src, dst):
    t = load(src)
    q, w = t["q"].double(), t["weight"].double()
    eye = torch.eye(q.shape[-1], dtype=q.dtype)
    rs = []
    for block in q:
        s = (block - block.T) / 2
        rs.append((eye + s) @ torch.linalg.inv(eye - s))
    adapted = (torch.block_diag(*rs) @ w.flatten(1)).reshape(w.shape)
    save(dst, {"r": torch.stack(rs).float(), "adapted": adapted.float()})


def metadata(path):
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(size)).get("__metadata__", {})


def build(meta):
    import torchvision
    arch, classes, size = meta["arch"], int(meta["num_classes"]), int(meta["image_size"])
    vit = re.fullmatch(r"vit_(ti|s|b)_(\d+)", arch)
    if vit:
        dim, heads, mlp = {"ti": (192, 3, 768), "s": (384, 6, 1536), "b": (768, 12, 3072)}[vit.group(1)]
        return torchvision.models.vision_transformer.VisionTransformer(
            image_size=size, patch_size=int(vit.group(2)), num_layers=12, num_heads=heads, hidden_dim=dim,
            mlp_dim=mlp, num_classes=classes)
    assert float(meta.get("width", "1")) == 1.0, "torchvision's ResNets have width 1"
    model = getattr(torchvision.models, arch)(num_classes=classes)
    if meta.get("stem") == "small":
        model.conv1 = torch.nn.Conv2d(3, model.conv1.out_channels, 3, 1, 1, bias=False)
        model.maxpool = torch.nn.Identity()
    return model


def torchvision_logits(weights, src, dst):
    model = build(metadata(weights))
    model.load_state_dict(load(weights), strict=True)
    model.eval()
    with torch.no_grad():
        save(dst, {"logits": model(load(src)["input"].float())})


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "lora":
        lora(*sys.argv[2:4])
    elif mode == "cayley":
        cayley(*sys.argv[2:4])
    elif mode == "torchvision":
        torchvision_logits(*sys.argv[2:5])
    else:
        sys.exit("unknown mode " + mode)
