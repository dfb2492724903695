"""Peer figure for bench/collapse-probe.ts: the per-channel running max a forward hook would compute in PyTorch.

Prints one JSON object: {"threads": T, "ms": {"stem": median_ms, ...}}. Tensors are NCHW (how torchvision runs);
each step is amax over (N, H, W) folded into a running max, as CollapseProbe.observe does.
"""
import json
import sys
import time

import torch

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
shapes = json.loads(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(0)
out = {}
for name, (n, h, w, c) in shapes.items():
    x = torch.randn(n, c, h, w)
    running = torch.full((c,), -float("inf"))
    times = []
    for _ in range(reps + 1):
        t0 = time.perf_counter()
        running = torch.maximum(running, x.amax(dim=(0, 2, 3)))
        running.numpy()  # read back, as the probe's report does
        times.append((time.perf_counter() - t0) * 1000)
    times = sorted(times[1:])
    out[name] = times[len(times) // 2]
print(json.dumps({"threads": threads, "torch": torch.__version__, "ms": out}))
