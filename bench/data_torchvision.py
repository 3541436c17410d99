#!/usr/bin/python3
"""Reference loader throughput: torchvision ImageFolder + DataLoader (PIL) with the imagenet224
training transforms (RandomResizedCrop(224) + flip + ToTensor + Normalize). Run with Debian's
/usr/bin/python3 (python3-torchvision). Prints 'images_per_second X' like `aft data bench`;
the clock starts at the first batch, so worker start-up is excluded on both sides."""
import argparse
import os
import time

import torch
import torchvision.datasets as datasets
import torchvision.transforms as T


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("root", help="image-folder root with train/<class>/*")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seconds", type=float, default=10.0)
    a = p.parse_args()
    torch.set_num_threads(1)
    transform = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(),
                           T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    data = datasets.ImageFolder(os.path.join(a.root, "train"), transform=transform)
    loader = torch.utils.data.DataLoader(data, batch_size=a.batch_size, shuffle=True, num_workers=a.workers,
                                         persistent_workers=a.workers > 0, drop_last=True)
    start, images, batches, elapsed = None, 0, 0, 0.0
    while start is None or elapsed < a.seconds:
        for x, _ in loader:
            if start is None:
                start = time.perf_counter()
                continue
            images += x.shape[0]
            batches += 1
            elapsed = time.perf_counter() - start
            if elapsed >= a.seconds:
                break
    print("images_per_second %.1f (%d images, %d batches, %.2f s, workers %d)"
          % (images / elapsed, images, batches, elapsed, a.workers))


if __name__ == "__main__":
    main()
