#!/usr/bin/env python3
"""The peer of bench/weights.ts: torch.load + load_state_dict of a ResNet-50 checkpoint, timed, peak RSS reported.

    python3 bench/weights_peer.py --write PATH     writes torchvision's resnet50 (random init, seed 0) with torch.save
    python3 bench/weights_peer.py --load PATH [--repeats 3]
                                                  prints one JSON line: seconds per load, baseline and peak RSS (MiB)
"""
import argparse
import json
import resource
import time

import torch
import torchvision


def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--write")
    parser.add_argument("--load")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None)
    if args.write:
        torch.save(model.state_dict(), args.write)
        return
    baseline = rss_mib()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        state = torch.load(args.load, map_location="cpu")
        model.load_state_dict(state)
        times.append(time.perf_counter() - t0)
        del state
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": times, "baselineMiB": baseline, "peakMiB": peak, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
