#!/usr/bin/env python3
"""Reference data for tests/data/augment_test.cpp, from the installed torchvision.

Usage: augment_reference.py OUT_DIR

Writes into OUT_DIR:
  square.png, wide.png   the test images (32x32 as the pipeline makes them, and 31x45)
  space.json             RandAugment's (for each image size) and TrivialAugmentWide's
                         _augmentation_space: [op, magnitudes or null, signed] in order
  cases.json, cases.bin  every (image, op, signed magnitude) of those spaces, with the uint8
                         HWC result of torchvision's _apply_op on the PIL image (NEAREST,
                         fill None), concatenated in the order of cases.json
"""
import json
import os
import sys

import numpy as np
from PIL import Image
import torchvision.transforms.autoaugment as A
from torchvision.transforms import InterpolationMode


def make_image(h, w, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([125 + 80 * np.sin(x / 4.0 + c) * np.cos(y / 5.0 - c) for c in range(3)], -1)
    img = img + rng.integers(-20, 20, img.shape)
    return Image.fromarray(img.clip(20, 230).astype(np.uint8))


def space_rows(space):
    rows = []
    for name, (mags, signed) in space.items():
        values = [float(v) for v in mags.tolist()] if mags.ndim > 0 else None
        rows.append([name, values, bool(signed)])
    return rows


def main(out):
    os.makedirs(out, exist_ok=True)
    images = {"square.png": make_image(32, 32, 1), "wide.png": make_image(31, 45, 2)}
    spaces = {}
    cases = []
    for file, img in images.items():
        img.save(os.path.join(out, file))
        w, h = img.size
        ra = space_rows(A.RandAugment()._augmentation_space(31, (h, w)))
        ta = space_rows(A.TrivialAugmentWide()._augmentation_space(31))
        spaces[file] = {"randaugment": ra, "trivialaugment": ta}
        seen = set()
        extra = [["Rotate", 180.0], ["Rotate", -180.0], ["Rotate", 270.0], ["Rotate", 0.0], ["ShearX", 2.5],
                 ["ShearY", -2.5], ["TranslateX", 44.9], ["TranslateY", -60.0], ["Posterize", 1.0],
                 ["Solarize", 128.0], ["Brightness", -1.0], ["Contrast", 1.5]]
        for rows in (ra, ta):
            for name, values, signed in rows:
                for v in values or [0.0]:
                    for s in ((1.0, -1.0) if signed else (1.0,)):
                        extra.append([name, v * s])
        for name, m in extra:
            if (name, m) in seen:
                continue
            seen.add((name, m))
            cases.append([file, name, m])
    with open(os.path.join(out, "cases.bin"), "wb") as f:
        for file, name, m in cases:
            res = A._apply_op(images[file], name, m, interpolation=InterpolationMode.NEAREST, fill=None)
            f.write(np.asarray(res.convert("RGB"), dtype=np.uint8).tobytes())
    with open(os.path.join(out, "space.json"), "w") as f:
        json.dump(spaces, f)
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(cases, f)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
