#!/usr/bin/python3
"""icons-name: a natural-colour target from 14 desktop icon themes that Debian ships (GNOME, KDE,
Xfce, LXDE, Deepin, Ubuntu and independent designs). 45 classes, each a standard name of the
freedesktop Icon Naming Specification (folder, user-trash, printer, camera-photo, dialog-warning,
edit-cut, ...), drawn by each theme in its own style. Themes are split, not images: every
--test-every-th theme, in name order, is a test theme, so the test split measures transfer to
icon designs never seen in training.

  make_icons.py --source DIR --out OUT [--size 128] [--test-every 2] [--overwrite]
  make_icons.py --collect THEME_DIR --into DIR/THEME     (tools/make_icons.sh, once per theme)

Each theme gives each name it has twice: its largest drawing (the scalable SVG, else the largest
size it has; several flat themes draw actions at 24 px at most), and its 24-px drawing (22 px
where it has no 24), rasterised at that size and enlarged, as the icon looks in a toolbar or
menu (many themes draw small icons separately; a bitmap that is the largest drawing too counts
once). A name a theme lacks is skipped (only the theme's own files count, not the themes it
inherits from); a picture that a theme shows for two of the names (the same pixels) is dropped
from both, as ambiguous. "-symbolic" variants are never used (flat themes still draw many
actions in one colour). Each picture's visible part is scaled to fit 85% of an
OUT-pixel square and centred on plain grey (tools/natural_target.py). Writes
OUT/{train,test}/NN-NAME/THEME-{large,small}.png and OUT/icons.json (themes on each side,
package versions, counts). A rerun with the same options is a no-op.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from PIL import Image

import natural_target as nt

TOOL = "make_icons"
VERSION = 3  # of what the build writes; the cache depends only on NAMES and collect()
NAMES = [
    # places and devices
    "folder", "user-home", "user-trash", "user-desktop", "network-workgroup", "computer", "drive-harddisk",
    "media-optical", "drive-removable-media", "printer", "camera-photo", "input-keyboard", "network-wired",
    "network-wireless", "media-flash",
    # file types
    "audio-x-generic", "image-x-generic", "video-x-generic", "package-x-generic", "text-x-generic", "text-html",
    "x-office-spreadsheet", "application-x-executable",
    # applications and status
    "utilities-terminal", "preferences-system", "system-users", "help-browser", "dialog-warning", "dialog-error",
    "dialog-information", "audio-volume-high",
    # actions
    "document-save", "edit-cut", "edit-paste", "edit-find", "edit-delete", "edit-undo", "media-playback-start",
    "view-refresh", "system-shutdown", "edit-copy", "list-add", "process-stop", "contact-new", "appointment-new",
]
SIZE_DIR = re.compile(r"^(\d+)(?:x\d+)?$")  # 48 or 48x48; 48x48@2x and the like are not sizes


def classes_key():
    return hashlib.sha1(("collect-1 " + " ".join(NAMES)).encode()).hexdigest()[:12]


def collect(theme_dir, into):
    """Copies each NAME's non-symbolic drawings of one theme, symlinks resolved, into
    INTO/SIZE/NAME.EXT (SIZE: a number or 'scalable'); of several files for one name and size
    (other contexts), the first in path order is kept."""
    wanted = set(NAMES)
    for root, dirs, files in os.walk(theme_dir):
        dirs.sort()
        parts = os.path.relpath(root, theme_dir).split(os.sep)
        if any("symbolic" in p for p in parts):
            continue
        size = None
        for p in parts:
            m = SIZE_DIR.match(p)
            if m:
                size = m.group(1)
            elif p == "scalable":
                size = "scalable"
        if size is None:
            continue
        for f in sorted(files):
            name, ext = os.path.splitext(f)
            real = os.path.realpath(os.path.join(root, f))
            if name not in wanted or ext not in (".png", ".svg", ".svgz") or not os.path.isfile(real):
                continue
            os.makedirs(os.path.join(into, size), exist_ok=True)
            if not any(os.path.exists(os.path.join(into, size, name + e)) for e in (".png", ".svg", ".svgz")):
                shutil.copyfile(real, os.path.join(into, size, name + ext))


def drawings(theme_dir):
    """{name: {'large': path, 'small': (path, px)}} of one collected theme."""
    sizes = [s for s in os.listdir(theme_dir) if s == "scalable" or s.isdigit()]
    files = {}
    for s in sizes:
        for f in os.listdir(os.path.join(theme_dir, s)):
            files.setdefault(os.path.splitext(f)[0], {})[s] = os.path.join(theme_dir, s, f)
    out = {}
    for name, by_size in files.items():
        numeric = sorted((int(s) for s in by_size if s.isdigit()), reverse=True)
        large = by_size.get("scalable") or by_size[str(numeric[0])]
        entry = {"large": large}
        for px in (24, 22):
            small = by_size.get(str(px))
            # A bitmap that is the largest drawing too would only be the large view again.
            if small and not (small.endswith(".png") and digest(small) == digest(large)):
                entry["small"] = (small, px)
                break
        out[name] = entry
    return out


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()


def load(path, px, tmp):
    """The drawing as RGBA; an SVG rasterised to px x px."""
    if path.endswith((".svg", ".svgz")):
        png = os.path.join(tmp, "icon.png")
        subprocess.run(["rsvg-convert", "-w", str(px), "-h", str(px), "-a", "-o", png, path], check=True)
        path = png
    im = Image.open(path)
    im.load()
    return im.convert("RGBA")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--source")
    parser.add_argument("--out")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--test-every", type=int, default=2)
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if this tool wrote it")
    parser.add_argument("--collect", help=argparse.SUPPRESS)
    parser.add_argument("--into", help=argparse.SUPPRESS)
    parser.add_argument("--classes-key", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.classes_key:
        print(classes_key())
        return
    if args.collect:
        collect(args.collect, args.into)
        return
    if not args.source or not args.out:
        parser.error("--source and --out are required")
    packages, themes = {}, []
    with open(os.path.join(args.source, ".done")) as f:
        for line in f:
            fields = line.split()
            if len(fields) == 3:
                packages[fields[0]] = fields[1]
                themes.append(fields[2])
    themes.sort(key=str.lower)
    params = {"tool": TOOL, "version": VERSION, "size": args.size, "test_every": args.test_every,
              "packages": packages}
    if nt.up_to_date(TOOL, args.out, "icons.json", params, args.overwrite):
        print(f"{TOOL}: {args.out} is up to date")
        return
    test_themes = set(themes[args.test_every - 1::args.test_every])
    sides = {"train": [t for t in themes if t not in test_themes], "test": [t for t in themes if t in test_themes]}
    tmp_out = nt.temp_dir(args.out)
    for side in sides:
        for c, name in enumerate(NAMES):
            os.makedirs(os.path.join(tmp_out, side, "%02d-%s" % (c + 1, name)))
    counts, ambiguous = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for theme in themes:
            side = "test" if theme in test_themes else "train"
            found = drawings(os.path.join(args.source, theme))
            squares = {}  # (name, view): the rendered square
            for name in NAMES:
                if name not in found:
                    continue
                views = [("large", found[name]["large"], 2 * args.size)]
                if "small" in found[name]:
                    views.append(("small",) + found[name]["small"])
                for view, path, px in views:
                    square = nt.place(load(path, px, tmp), args.size)
                    if square is not None:
                        squares[(name, view)] = square
            # One picture that a theme shows for two names of the list says nothing about either.
            by_pixels = {}
            for key, square in squares.items():
                by_pixels.setdefault(hashlib.sha1(square.tobytes()).digest(), []).append(key)
            dropped = sorted({k for keys in by_pixels.values() if len({n for n, _ in keys}) > 1 for k in keys})
            if dropped:
                ambiguous[theme] = ["%s (%s)" % k for k in dropped]
            n = 0
            for (name, view), square in squares.items():
                if (name, view) not in dropped:
                    folder = os.path.join(tmp_out, side, "%02d-%s" % (NAMES.index(name) + 1, name))
                    square.save(os.path.join(folder, f"{theme}-{view}.png"))
                    n += 1
            counts[theme] = n
    record = {"params": params, "source": "icon themes of Debian packages (tools/make_icons.sh)",
              "classes": NAMES, "train_themes": sides["train"], "test_themes": sides["test"],
              "images_per_theme": counts, "dropped_as_ambiguous": ambiguous}
    nt.prune_empty(TOOL, tmp_out)
    nt.finish(tmp_out, args.out, "icons.json", record)
    classes, n_train, n_test = nt.count(args.out)
    print(f"{TOOL}: {args.out}: {classes} classes, {n_train} train images from {len(sides['train'])} themes, "
          f"{n_test} test images from {len(sides['test'])} other themes")


if __name__ == "__main__":
    main()
