#!/usr/bin/python3
"""A few-shot copy of an image-folder target: a seeded choice of K training images per class and
the whole test split, as hard links (copies across file systems), for the transfer suite's NAME-K
folders (bench/suite_data.sh) of targets that tools/make_{cards,emoji,icons}.sh build whole.

  subset_folder.py SRC OUT --per-class K [--seed 0] [--overwrite]

A class with K images or fewer keeps them all. The choice depends only on the seed, the class
name and the sorted file names. SRC's JSON files (its split metadata) are copied beside as source-NAME.json, and
OUT/subset.json records the choice; OUT follows tools/natural_target.py (a rerun with the same
options and source is a no-op, --overwrite replaces a folder this tool wrote, any other OUT is
refused). Prints "wrote OUT: C classes, N train, M test images", as `aft data` does.
"""
import argparse
import hashlib
import os
import random
import shutil

import natural_target as nt

TOOL = "subset_folder"
VERSION = 1


def link(src, dst):
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("src")
    parser.add_argument("out")
    parser.add_argument("--per-class", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if this tool wrote it")
    args = parser.parse_args()
    metadata = sorted(f for f in os.listdir(args.src) if f.endswith(".json"))
    h = hashlib.sha1()
    for f in metadata:
        with open(os.path.join(args.src, f), "rb") as fp:
            h.update(f.encode() + b"\0" + fp.read())
    params = {"tool": TOOL, "version": VERSION, "source": os.path.realpath(args.src), "source_json": h.hexdigest(),
              "per_class": args.per_class, "seed": args.seed}
    if not nt.up_to_date(TOOL, args.out, "subset.json", params, args.overwrite):
        tmp = nt.temp_dir(args.out)
        chosen = {}
        for side in ("train", "test"):
            for c in sorted(os.listdir(os.path.join(args.src, side))):
                files = sorted(os.listdir(os.path.join(args.src, side, c)))
                if side == "train" and len(files) > args.per_class:
                    files = sorted(random.Random(f"{args.seed}/{c}").sample(files, args.per_class))
                    chosen[c] = files
                os.makedirs(os.path.join(tmp, side, c))
                for f in files:
                    link(os.path.join(args.src, side, c, f), os.path.join(tmp, side, c, f))
        for f in metadata:
            shutil.copyfile(os.path.join(args.src, f), os.path.join(tmp, "source-" + f))
        nt.finish(tmp, args.out, "subset.json", {"params": params, "train_chosen": chosen})
    classes, n_train, n_test = nt.count(args.out)
    print(f"wrote {args.out}: {classes} classes, {n_train} train, {n_test} test images")


if __name__ == "__main__":
    main()
