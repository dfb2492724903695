"""Peer figure for bench/infer.ts: torchvision RetinaNet R50-FPN inference on CPU, images per second.

Usage: python3 bench/infer_torchvision.py IMAGE [IMAGE...] --threads 2 --repeats 1 --warmup 0
Prints one JSON line: {"images_per_s": ..., "seconds_per_image": [...], "input_size": [h, w]}.
Random weights (no download here); the transform resizes to 800 / 1333 as in evaluation.
"""
import argparse
import json
import time

import torch
import torchvision
from torchvision.io import read_image


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("images", nargs="+")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=0, help="untimed passes first (each costs a full pass)")
    parser.add_argument("--min-size", type=int, default=800)
    parser.add_argument("--max-size", type=int, default=1333)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = torchvision.models.detection.retinanet_resnet50_fpn(
        weights=None, weights_backbone=None, min_size=args.min_size, max_size=args.max_size
    ).eval()
    images = [read_image(p).float().div(255) for p in args.images]
    times = []
    size = None
    with torch.no_grad():
        for _ in range(args.warmup):
            model([images[0]])
        for _ in range(args.repeats):
            for img in images:
                t0 = time.perf_counter()
                model([img])
                times.append(time.perf_counter() - t0)
        batched, _ = model.transform([images[0]])
        size = list(batched.tensors.shape[-2:])
    print(json.dumps({"images_per_s": len(times) / sum(times), "seconds_per_image": times, "input_size": size}))


if __name__ == "__main__":
    main()
