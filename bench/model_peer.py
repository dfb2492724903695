#!/usr/bin/env python3
"""PyTorch peer of bench/model.ts: torchvision RetinaNet R50-FPN / R18-FPN training step (batch 2) and inference
(1 image) at the same size, on 2 threads (or a CUDA GPU), timed per part the same way. Prints one JSON object.

    python3 bench/model_peer.py --size 512 --models r50,r18 --iters 1 [--device cuda]
"""
import argparse
import json
import time

import torch
import torchvision
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.retinanet import RetinaNet
from torchvision.ops import misc as misc_nn_ops
from torchvision.ops.feature_pyramid_network import LastLevelP6P7


def build(depth, frozen_stages):
    """FrozenBN backbone with `frozen_stages` frozen (trainable_layers = 5 - frozen), P6 from P5, 80 classes."""
    make = {18: torchvision.models.resnet18, 50: torchvision.models.resnet50}[depth]
    body = make(weights=None, norm_layer=misc_nn_ops.FrozenBatchNorm2d)
    backbone = _resnet_fpn_extractor(body, 5 - frozen_stages, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256))
    return RetinaNet(backbone, num_classes=80)


SYNC = lambda: None  # noqa: E731  (torch.cuda.synchronize on a GPU, so each part is timed to its end)


def timed(fn):
    SYNC()
    t0 = time.perf_counter()
    out = fn()
    SYNC()
    return out, time.perf_counter() - t0


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def run(depth, size, iters, device):
    torch.manual_seed(0)
    model = build(depth, 1).to(device)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, size, size, generator=gen).to(device)
    targets = [
        {"boxes": torch.tensor([[40.0, 60.0, 200.0, 260.0], [300.0, 100.0, 480.0, 300.0]]), "labels": torch.tensor([1, 7])},
        {"boxes": torch.tensor([[100.0, 100.0, 400.0, 420.0]]), "labels": torch.tensor([3])},
    ]
    targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
    sizes = [(size, size)] * 2
    res = {"backbone": [], "fpn": [], "head": [], "loss": [], "backward": [], "step": [], "inference": []}
    model.train()
    for it in range(iters + 1):  # the first iteration warms up
        model.zero_grad()
        t_step = time.perf_counter()
        c, tb = timed(lambda: model.backbone.body(x))
        feats, tf_ = timed(lambda: list(model.backbone.fpn(c).values()))
        head, th = timed(lambda: model.head(feats))

        def loss_fn():
            anchors = model.anchor_generator(ImageList(x, sizes), feats)
            losses = model.compute_loss(targets, head, anchors)
            return losses["classification"] + losses["bbox_regression"]

        loss, tl = timed(loss_fn)
        _, tbw = timed(lambda: loss.backward())
        SYNC()
        step = time.perf_counter() - t_step
        if it > 0:
            for k, v in zip(["backbone", "fpn", "head", "loss", "backward", "step"], [tb, tf_, th, tl, tbw, step]):
                res[k].append(v)
    model.eval()
    x1 = x[:1]
    with torch.no_grad():
        for it in range(iters + 1):
            t0 = time.perf_counter()
            feats = list(model.backbone(x1).values())
            head = model.head(feats)
            anchors = model.anchor_generator(ImageList(x1, sizes[:1]), feats)
            per_level = [f.size(2) * f.size(3) * 9 for f in feats]
            split_head = {k: list(v.split(per_level, dim=1)) for k, v in head.items()}
            split_anchors = [list(a.split(per_level)) for a in anchors]
            model.postprocess_detections(split_head, split_anchors, sizes[:1])
            SYNC()
            if it > 0:
                res["inference"].append(time.perf_counter() - t0)
    return {k: median(v) for k, v in res.items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--models", default="r50,r18")
    parser.add_argument("--iters", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    global SYNC
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        SYNC = torch.cuda.synchronize
    out = {"torch": torch.__version__, "torchvision": torchvision.__version__, "threads": args.threads, "device": str(device)}
    for name in args.models.split(","):
        out[name] = run(int(name[1:]), args.size, args.iters, device)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
