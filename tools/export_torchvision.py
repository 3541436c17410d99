#!/usr/bin/python3
"""Export a torchvision model to safetensors, plus reference outputs for aft's tests.

Runs with Debian's python3-torch / python3-torchvision (use /usr/bin/python3). The model is
randomly initialised with --seed, or loaded from a local .pth state dict with --weights.

  export_torchvision.py --arch resnet18 --out W.safetensors [--num-classes N] [--stem small]
      [--image-size 64] [--input-out X.safetensors --reference-out R.safetensors]

Reference file (--reference-out), all computed in eval mode (BN uses running statistics, so
the numbers do not depend on the batch and no buffer is updated):
  logits               eval-mode logits for the tensor `input` of --input-out
  loss_weights         fixed random weights w; the loss is L = sum(logits * w)
  grad.<param name>    dL/dparam after one backward of L, for --grad-params (or a default set
                       spanning the network: first params, one in the middle, the head)
Metadata of every file: arch, num_classes, stem, image_size, input_size, mean, std.

--perturb replaces torchvision's trivial initial values (BN running stats 0/1, BN affine 1/0,
zero class token and zero ViT head) with random ones so a comparison exercises them.
--jobs FILE runs one export per line of FILE (each line holds the options above), paying
torch's import cost once.
"""
import argparse
import shlex
import sys

import torch
import torchvision

from safetensors_io import save as write_safetensors  # tools/safetensors_io.py

MEAN = "0.485,0.456,0.406"
STD = "0.229,0.224,0.225"


def build(args):
    if args.arch.startswith("vit_"):
        model = getattr(torchvision.models, args.arch)(num_classes=args.num_classes, image_size=args.image_size)
    else:
        model = getattr(torchvision.models, args.arch)(num_classes=args.num_classes)
        if args.stem == "small":
            # 3x3/1 stem without max pool (maxpool has no parameters, so names still match).
            width = model.conv1.out_channels
            model.conv1 = torch.nn.Conv2d(3, width, kernel_size=3, stride=1, padding=1, bias=False)
            torch.nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
            model.maxpool = torch.nn.Identity()
    if args.weights:
        model.load_state_dict(torch.load(args.weights, map_location="cpu"))
    return model


def perturb(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
                m.num_batches_tracked.fill_(7)
        for name, p in model.named_parameters():
            if name in ("class_token",) or name.startswith("heads.head"):
                p.normal_(0.0, 0.02)


def default_grad_params(model):
    names = [n for n, _ in model.named_parameters()]
    picks = names[:2] + [names[len(names) // 2]] + names[-4:]
    return list(dict.fromkeys(picks))


def run(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", help="torchvision name: resnet18|34|50|101|152, vit_b_16, ...")
    p.add_argument("--out", help="weights safetensors to write")
    p.add_argument("--num-classes", type=int, default=1000)
    p.add_argument("--stem", choices=["imagenet", "small"], default="imagenet")
    p.add_argument("--image-size", type=int, default=224, help="input size (ViT position embeddings depend on it)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights", help="local .pth state dict to load instead of random init")
    p.add_argument("--weights-dtype", choices=["float32", "float16", "bfloat16"], default="float32")
    p.add_argument("--perturb", action="store_true", help="randomise BN stats/affine, class token, zero head")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--input-out", help="write a random input tensor named `input` here")
    p.add_argument("--reference-out", help="write eval logits and gradients here (needs --input-out)")
    p.add_argument("--grad-params", default="", help="comma-separated parameter names to store gradients of")
    p.add_argument("--jobs", help="file with one option line per export")
    args = p.parse_args(argv)

    if args.jobs:
        with open(args.jobs) as f:
            for line in f:
                if line.strip() and not line.lstrip().startswith("#"):
                    run(shlex.split(line))
        return
    if not args.arch or not args.out:
        p.error("--arch and --out are required (or --jobs)")
    if args.reference_out and not args.input_out:
        p.error("--reference-out needs --input-out")

    torch.manual_seed(args.seed)
    model = build(args)
    if args.perturb:
        perturb(model)
    model.eval()
    metadata = {
        "format": "pt", "arch": args.arch, "num_classes": args.num_classes, "stem": args.stem,
        "image_size": args.image_size, "input_size": f"3,{args.image_size},{args.image_size}",
        "mean": MEAN, "std": STD, "source": f"torchvision {torchvision.__version__}",
    }
    dtype = getattr(torch, args.weights_dtype)
    state = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    write_safetensors(args.out, state, metadata)

    if args.input_out:
        gen = torch.Generator().manual_seed(args.seed + 1)
        x = torch.randn(args.batch, 3, args.image_size, args.image_size, generator=gen)
        write_safetensors(args.input_out, {"input": x}, metadata)
        if args.reference_out:
            logits = model(x)
            w = torch.randn(logits.shape, generator=gen)
            (logits * w).sum().backward()
            names = [n for n in args.grad_params.split(",") if n] or default_grad_params(model)
            params = dict(model.named_parameters())
            out = {"logits": logits.detach(), "loss_weights": w}
            for n in names:
                out["grad." + n] = params[n].grad
            write_safetensors(args.reference_out, out, dict(metadata, grad_params=",".join(names)))


if __name__ == "__main__":
    run(sys.argv[1:])
