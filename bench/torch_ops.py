"""PyTorch peer for bench/ops.ts: the same conv passes and ResNet-18 training step, on the same cores.

Prints one JSON object: {"torch": version, "threads": n, "conv": {"forward": s, "input_grad": s,
"filter_grad": s}, "resnet18": {"256": s, "512": s}}, each a median in seconds.
Usage: python3 bench/torch_ops.py [--threads 2] [--reps 3] [--sizes 256,512] [--device cpu|cuda]
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
import torchvision


SYNC = lambda: None  # noqa: E731  (torch.cuda.synchronize on a GPU)


def median_time(fn, reps):
    fn()  # warm-up
    SYNC()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        SYNC()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--skip-resnet", action="store_true")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    global SYNC
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = torch.device(args.device)
    if dev.type == "cuda":
        SYNC = torch.cuda.synchronize

    # conv 3x3 256->256 at 64x64, batch 2, padding 1 (NCHW here; the tfjs side is NHWC)
    x = torch.randn(2, 256, 64, 64, device=dev, requires_grad=True)
    w = torch.randn(256, 256, 3, 3, device=dev, requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    dy = torch.randn_like(y)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "device": str(dev), "conv": {}, "resnet18": {}}
    with torch.no_grad():
        out["conv"]["forward"] = median_time(lambda: F.conv2d(x, w, padding=1), args.reps)
    out["conv"]["input_grad"] = median_time(lambda: torch.autograd.grad(y, x, dy, retain_graph=True), args.reps)
    out["conv"]["filter_grad"] = median_time(lambda: torch.autograd.grad(y, w, dy, retain_graph=True), args.reps)

    if not args.skip_resnet:
        model = torchvision.models.resnet18()
        model.fc = torch.nn.Identity()  # the body only, as the tfjs side (loss = sum of the pooled C5)
        model.to(dev).train()
        for size in [int(s) for s in args.sizes.split(",") if s]:
            images = torch.randn(2, 3, size, size, device=dev)

            def step():
                model.zero_grad(set_to_none=True)
                model(images).sum().backward()

            out["resnet18"][str(size)] = median_time(step, args.reps)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
