#!/usr/bin/python3
"""cards-rank: a natural-colour target from the playing-card decks Debian ships (gnome-cards-data,
aisleriot's 30 SVG decks: French, German, Swiss, Italian and Russian patterns, engraved, painted
and flat designs). 13 classes, the rank (A, 2..10, J, Q, K, suits pooled); train and test come
from different decks, so the test split measures transfer to unseen artwork (docs/efficientnet.md).

  make_cards.py --decks DIR --out OUT [--size 128] [--test-every 2]

DIR holds the .svgz decks (tools/make_cards.sh unpacks them from Debian's package). Each deck is
rendered once with rsvg-convert (librsvg2-bin) and cut along aisleriot's 13 x 5 grid (rows:
clubs, diamonds, hearts, spades, extras). Each card is scaled to fit an OUT-pixel square and
centred on a plain felt-green background. Decks of one family (anglo, anglo_bitmap, anglo_modern,
...) stay on one side of the split; every --test-every-th family, in name order, is a test family.
Writes OUT/{train,test}/NN-RANK/DECK-SUIT.png and OUT/cards.json (the decks on each side).
OUT must not exist.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

from PIL import Image

RANKS = ["A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K"]
SUITS = ["clubs", "diamonds", "hearts", "spades"]
FELT = (46, 110, 60)


def family(deck):
    if deck == "Атласные":  # the Russian-named copy of atlasnye
        return "atlasnye"
    for sep in "_-":
        deck = deck.split(sep)[0]
    return deck


def render(svgz, width, tmp):
    png = os.path.join(tmp, "deck.png")
    subprocess.run(["rsvg-convert", "-w", str(width), "-o", png, svgz], check=True)
    return Image.open(png).convert("RGBA")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--decks", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--test-every", type=int, default=2)
    args = parser.parse_args()
    if os.path.exists(args.out):
        sys.exit(f"make_cards: {args.out} exists; choose another --out")
    decks = sorted(f[:-5] for f in os.listdir(args.decks) if f.endswith(".svgz"))
    if not decks:
        sys.exit(f"make_cards: no .svgz decks in {args.decks}")
    families = sorted({family(d) for d in decks})
    test_families = set(families[args.test_every - 1::args.test_every])
    tmp_out = args.out + ".tmp.%d" % os.getpid()
    sides = {"train": [], "test": []}
    with tempfile.TemporaryDirectory() as tmp:
        for deck in decks:
            side = "test" if family(deck) in test_families else "train"
            sides[side].append(deck)
            # 13 columns; render a card about 3x the output height, then downscale (antialiased).
            sheet = render(os.path.join(args.decks, deck + ".svgz"), 13 * args.size * 2, tmp)
            cw, ch = sheet.width / 13.0, sheet.height / 5.0
            name = deck if deck.isascii() else "atlasnye_ru"
            for r, suit in enumerate(SUITS):
                for c, rank in enumerate(RANKS):
                    card = sheet.crop((round(c * cw), round(r * ch), round((c + 1) * cw), round((r + 1) * ch)))
                    scale = args.size / max(card.width, card.height)
                    card = card.resize((max(1, round(card.width * scale)), max(1, round(card.height * scale))),
                                       Image.LANCZOS)
                    canvas = Image.new("RGBA", (args.size, args.size), FELT + (255,))
                    canvas.alpha_composite(card, ((args.size - card.width) // 2, (args.size - card.height) // 2))
                    folder = os.path.join(tmp_out, side, "%02d-%s" % (c + 1, rank))
                    os.makedirs(folder, exist_ok=True)
                    canvas.convert("RGB").save(os.path.join(folder, f"{name}-{suit}.png"))
    with open(os.path.join(tmp_out, "cards.json"), "w") as f:
        json.dump({"source": "gnome-cards-data (aisleriot decks)", "size": args.size, "classes": RANKS,
                   "train_decks": sides["train"], "test_decks": sides["test"]}, f, indent=1)
    os.rename(tmp_out, args.out)
    print(f"make_cards: {args.out}: 13 classes, {52 * len(sides['train'])} train images from {len(sides['train'])} "
          f"decks, {52 * len(sides['test'])} test images from {len(sides['test'])} other decks")


if __name__ == "__main__":
    main()
