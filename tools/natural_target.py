"""Shared by tools/make_emoji.py, tools/make_icons.py and tools/subset_folder.py: where a target
folder is written, and how one picture is placed on its square.

A target folder carries a JSON marker (emoji.json, icons.json, subset.json) with the options and
package versions it was made from. OUT absent: it is built. OUT with the same marker: nothing to do
(a rerun is a no-op). OUT with a marker of other options: --overwrite replaces it. OUT without the
marker: refused, whatever the flags (it was not written by this tool). Every build goes into
OUT.tmp.PID and is renamed into place at the end, so an interrupted run leaves no half folder.
"""
import json
import os
import shutil
import sys

from PIL import Image

BACKGROUND = (200, 200, 200)  # plain mid-grey: white and black artwork both stand out


def up_to_date(tool, out, marker, params, overwrite):
    """True when OUT already holds this build; exits when OUT may not be replaced."""
    if not os.path.lexists(out):
        return False
    path = os.path.join(out, marker)
    if not os.path.isfile(path):
        sys.exit(f"{tool}: {out} exists and was not written by {tool} (no {marker}); choose another --out")
    with open(path) as f:
        old = json.load(f)
    if old.get("params") == params:
        return True
    if not overwrite:
        sys.exit(f"{tool}: {out} was written with other options or sources; --overwrite replaces it")
    return False


def temp_dir(out):
    tmp = out + ".tmp.%d" % os.getpid()
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    return tmp


def finish(tmp, out, marker, record):
    """Writes the marker into tmp and moves tmp to OUT (replacing a folder this tool wrote)."""
    with open(os.path.join(tmp, marker), "w") as f:
        json.dump(record, f, indent=1, ensure_ascii=False)
        f.write("\n")
    if os.path.lexists(out):
        old = out + ".old.%d" % os.getpid()
        os.rename(out, old)
        os.rename(tmp, out)
        shutil.rmtree(old)
    else:
        os.rename(tmp, out)


def prune_empty(tool, root):
    """Removes empty class folders of ROOT/test (aft reads a test split that lacks a class, but not
    an empty class folder); an empty training class is an error."""
    for side in ("train", "test"):
        d = os.path.join(root, side)
        for c in sorted(os.listdir(d)):
            if not os.listdir(os.path.join(d, c)):
                if side == "train":
                    sys.exit(f"{tool}: no training images for class {c}")
                os.rmdir(os.path.join(d, c))


def count(root):
    """(classes, train images, test images) of ROOT/{train,test}/CLASS/*.png."""
    n = {}
    for side in ("train", "test"):
        d = os.path.join(root, side)
        n[side] = sum(len(os.listdir(os.path.join(d, c))) for c in os.listdir(d))
    return len(os.listdir(os.path.join(root, "train"))), n["train"], n["test"]


def place(picture, size, fill=0.85):
    """An RGB square of `size` px: the picture's visible part (alpha > 0), scaled to fit `fill` of
    the side, centred on BACKGROUND. None when the picture is empty."""
    picture = picture.convert("RGBA")
    box = picture.getchannel("A").getbbox()
    if box is None:
        return None
    picture = picture.crop(box)
    side = fill * size
    scale = side / max(picture.width, picture.height)
    w, h = max(1, round(picture.width * scale)), max(1, round(picture.height * scale))
    picture = picture.resize((w, h), Image.LANCZOS)
    canvas = Image.new("RGBA", (size, size), BACKGROUND + (255,))
    canvas.alpha_composite(picture, ((size - w) // 2, (size - h) // 2))
    return canvas.convert("RGB")
