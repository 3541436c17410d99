#!/usr/bin/python3
"""emoji-category: a natural-colour target from three emoji designs that Debian ships. 22 classes,
each a group of Unicode emoji subgroups (emoji-test.txt of unicode-data: face, hand, mammal, food,
vehicle, ...). Train: Noto Color Emoji (fonts-noto-color-emoji) and emojify.js's images
(libjs-emojify); test: EmojiOne 3 (ruby-gemojione's SVGs), a design never seen in training. Every
emoji of one code point in the chosen subgroups that a design has is one image (skin-tone
variants, people, flags and multi-code-point sequences are left out).

  make_emoji.py --source DIR --out OUT [--size 128] [--overwrite]

DIR is what tools/make_emoji.sh unpacks: NotoColorEmoji.ttf, emojify/*.png, emojione/{svg,
index.json}, emoji-test.txt, .done (package versions). Each emoji's visible part is scaled to fit
85% of an OUT-pixel square and centred on plain grey (tools/natural_target.py). Writes
OUT/{train,test}/NN-CLASS/DESIGN-CODEPOINT.png and OUT/emoji.json (classes, subgroups, designs,
counts). A rerun with the same options is a no-op; OUT not written by this tool is refused.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

from PIL import Image, ImageDraw, ImageFont

import natural_target as nt

TOOL = "make_emoji"
VERSION = 1
# Class name, then the emoji-test.txt subgroups it pools.
CLASSES = [
    ("face", ["face-smiling", "face-affection", "face-tongue", "face-hand", "face-neutral-skeptical",
              "face-sleepy", "face-unwell", "face-hat", "face-glasses", "face-concerned", "face-negative"]),
    ("hand", ["hand-fingers-open", "hand-fingers-partial", "hand-single-finger", "hand-fingers-closed",
              "hands", "hand-prop", "body-parts"]),
    ("heart", ["heart", "emotion"]),
    ("mammal", ["cat-face", "monkey-face", "animal-mammal"]),
    ("animal-other", ["animal-bird", "animal-amphibian", "animal-reptile", "animal-marine", "animal-bug"]),
    ("plant", ["plant-flower", "plant-other"]),
    ("fruit-vegetable", ["food-fruit", "food-vegetable"]),
    ("food", ["food-prepared", "food-asian", "food-marine", "food-sweet"]),
    ("drink-dish", ["drink", "dishware"]),
    ("place", ["place-map", "place-geographic", "place-building", "place-religious", "place-other", "hotel"]),
    ("vehicle", ["transport-ground", "transport-water", "transport-air"]),
    ("time-sky", ["time", "sky & weather"]),
    ("sport-game", ["event", "award-medal", "sport", "game", "arts & crafts"]),
    ("clothing", ["clothing"]),
    ("music-sound", ["sound", "music", "musical-instrument"]),
    ("device", ["phone", "computer", "light & video"]),
    ("office", ["book-paper", "money", "mail", "writing", "office", "lock"]),
    ("tool-object", ["tool", "science", "medical", "household", "other-object"]),
    ("sign", ["transport-sign", "warning", "religion", "zodiac", "gender"]),
    ("arrow-button", ["arrow", "av-symbol"]),
    ("symbol", ["math", "punctuation", "currency", "other-symbol", "alphanum"]),
    ("shape", ["geometric"]),
]
TRAIN_DESIGNS = ["noto", "emojify"]
TEST_DESIGNS = ["emojione"]


def emoji_by_class(path):
    """{class index: [code point, ...]} from emoji-test.txt: fully-qualified emoji of one code
    point (an emoji presentation selector FE0F aside), in the file's order."""
    where = {sub: i for i, (_, subs) in enumerate(CLASSES) for sub in subs}
    out = {i: [] for i in range(len(CLASSES))}
    subgroup = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("# subgroup:"):
                subgroup = line.split(":", 1)[1].strip()
            elif line.strip() and not line.startswith("#"):
                points, status = line.split(";", 1)
                if status.split("#")[0].strip() != "fully-qualified":
                    continue
                points = [p for p in points.split() if p != "FE0F"]
                if len(points) == 1 and subgroup in where:
                    out[where[subgroup]].append(points[0].upper())
    return out


def emojify_files(source):
    """{code point: png} for emojify.js's images (named by short code), through EmojiOne's index
    of short names and aliases."""
    with open(os.path.join(source, "emojione", "index.json")) as f:
        index = json.load(f)
    point = {}
    for entry in index.values():
        for name in [entry["shortname"]] + entry.get("aliases", []):
            point[name.strip(":")] = entry["unicode"].upper()
    files = {}
    folder = os.path.join(source, "emojify")
    for f in sorted(os.listdir(folder)):
        name, ext = os.path.splitext(f)
        if ext == ".png" and name in point and "-" not in point[name]:
            files.setdefault(point[name], os.path.join(folder, f))
    return files


class Designs:
    def __init__(self, source, tmp):
        self.font = ImageFont.truetype(os.path.join(source, "NotoColorEmoji.ttf"), 109)  # its bitmap size
        self.emojify = emojify_files(source)
        self.svg = os.path.join(source, "emojione", "svg")
        self.tmp = tmp

    def render(self, design, point, size):
        """The emoji as an RGBA picture, or None where the design lacks it."""
        if design == "noto":
            im = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
            ImageDraw.Draw(im).text((10, 10), chr(int(point, 16)), font=self.font, embedded_color=True)
            return im
        if design == "emojify":
            return Image.open(self.emojify[point]) if point in self.emojify else None
        svg = os.path.join(self.svg, point + ".svg")
        if not os.path.isfile(svg):
            return None
        png = os.path.join(self.tmp, "emoji.png")
        subprocess.run(["rsvg-convert", "-w", str(size), "-h", str(size), "-a", "-o", png, svg], check=True)
        return Image.open(png)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if this tool wrote it")
    args = parser.parse_args()
    with open(os.path.join(args.source, ".done")) as f:
        packages = dict(line.split() for line in f if line.strip())
    params = {"tool": TOOL, "version": VERSION, "size": args.size, "packages": packages}
    if nt.up_to_date(TOOL, args.out, "emoji.json", params, args.overwrite):
        print(f"{TOOL}: {args.out} is up to date")
        return
    members = emoji_by_class(os.path.join(args.source, "emoji-test.txt"))
    tmp_out = nt.temp_dir(args.out)
    counts = {}
    with tempfile.TemporaryDirectory() as tmp:
        designs = Designs(args.source, tmp)
        for side, names in (("train", TRAIN_DESIGNS), ("test", TEST_DESIGNS)):
            for c, (name, _) in enumerate(CLASSES):
                folder = os.path.join(tmp_out, side, "%02d-%s" % (c + 1, name))
                os.makedirs(folder)
                for design in names:
                    n = 0
                    for point in members[c]:
                        picture = designs.render(design, point, args.size)
                        square = nt.place(picture, args.size) if picture is not None else None
                        if square is not None:
                            square.save(os.path.join(folder, f"{design}-{point}.png"))
                            n += 1
                    counts.setdefault(design, {})[name] = n
    record = {"params": params, "source": "emoji designs of Debian packages (tools/make_emoji.sh)",
              "classes": [{"name": n, "subgroups": s} for n, s in CLASSES],
              "train_designs": TRAIN_DESIGNS, "test_designs": TEST_DESIGNS, "images_per_design": counts}
    nt.prune_empty(TOOL, tmp_out)
    nt.finish(tmp_out, args.out, "emoji.json", record)
    classes, n_train, n_test = nt.count(args.out)
    print(f"{TOOL}: {args.out}: {classes} classes, {n_train} train images ({' + '.join(TRAIN_DESIGNS)}), "
          f"{n_test} test images ({' + '.join(TEST_DESIGNS)})")


if __name__ == "__main__":
    main()
