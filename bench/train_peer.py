"""Peer figure for bench/train.ts: torchvision RetinaNet training steps on this machine's CPU with the same sizes,
batch, classes, iterations and solver as ours, split into forward+backward and optimizer time. Prints one JSON line.

Usage: /usr/bin/python3 bench/train_peer.py tiny|r50 SIZE BATCH ITERS NUM_CLASSES SOLVER_JSON
  SOLVER_JSON: psdet's resolved `solver` config. The peer builds the same optimizer from it (SGD with momentum,
        Adam or AdamW, PyTorch's own), the same three weight-decay groups (weights, biases, norm gamma / beta), the
        same learning-rate schedule (warm-up, then multistep / cosine / constant) and the same gradient clipping by
        global norm (clip_grad_norm_); clipping, the step and the schedule count as optimizer time, as in ours.
  tiny: ResNet-18 at 1/4 width (stem 16) built from torchvision's own blocks, FPN 32, head depth 2, BatchNorm,
        stem frozen (psdet's tiny config);
  r50:  torchvision's retinanet_resnet50_fpn construction, random init, FrozenBatchNorm2d and the stem frozen
        (trainable_backbone_layers=4), as psdet's R50 recipe."""
import json
import math
import os
import sys
import time

import torch
import torchvision
from torchvision.models import resnet50
from torchvision.models.detection import RetinaNet
from torchvision.models.detection.backbone_utils import BackboneWithFPN, _resnet_fpn_extractor
from torchvision.ops import FrozenBatchNorm2d
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from export_torchvision_parity import narrow_resnet18  # noqa: E402  (the same narrow ResNet-18 as the parity fixtures)


def tiny_model(num_classes, size):
    stem, fpn = 16, 32
    net = narrow_resnet18(stem)
    for p in list(net.conv1.parameters()) + list(net.bn1.parameters()):
        p.requires_grad_(False)
    backbone = BackboneWithFPN(net, {"layer2": "0", "layer3": "1", "layer4": "2"}, [stem * 2, stem * 4, stem * 8], fpn,
                               extra_blocks=LastLevelP6P7(fpn, fpn))
    model = RetinaNet(backbone, num_classes=num_classes, min_size=size, max_size=size)
    model.head.classification_head.conv = model.head.classification_head.conv[:4]  # two conv + ReLU pairs
    model.head.regression_head.conv = model.head.regression_head.conv[:4]
    return model


variant, size, batch, iters, num_classes = sys.argv[1], *(int(a) for a in sys.argv[2:6])
solver_json = sys.argv[6]
torch.manual_seed(0)
if variant == "tiny":
    model = tiny_model(num_classes, size)
else:
    # retinanet_resnet50_fpn's own construction, with FrozenBatchNorm2d as psdet's R50 recipe has it (the builder
    # picks BatchNorm2d when no weights are given) and the stem frozen (trainable_backbone_layers=4)
    body = resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
    backbone = _resnet_fpn_extractor(body, 4, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256))
    model = RetinaNet(backbone, num_classes, min_size=size, max_size=size)
model.train()


def solver_optimizer(model, solver):
    """The optimizer psdet's solver config describes, over its three weight-decay groups."""
    norm_params = {id(p) for m in model.modules() if isinstance(m, (torch.nn.BatchNorm2d, FrozenBatchNorm2d))
                   for p in m.parameters(recurse=False)}
    groups = {"weight": [], "bias": [], "norm": []}
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups["norm" if id(p) in norm_params else "bias" if name.endswith(".bias") else "weight"].append(p)
    decay = {"weight": solver["weightDecay"], "bias": solver["weightDecayBias"], "norm": solver["weightDecayNorm"]}
    param_groups = [{"params": ps, "weight_decay": decay[k]} for k, ps in groups.items() if ps]
    lr = solver["baseLr"] * (solver["batchSize"] / solver["referenceBatchSize"] if solver["scaleLrWithBatch"] else 1)
    kind = solver["optimizer"]
    if kind == "sgd":
        return torch.optim.SGD(param_groups, lr=lr, momentum=solver["momentum"])
    betas, eps = tuple(solver["adamBetas"]), solver["adamEpsilon"]
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]
    return cls(param_groups, lr=lr, betas=betas, eps=eps)


def lr_factor(solver):
    """psdet's learning-rate multiplier at 0-based iteration `it` (src/train/schedule.ts)."""
    def factor(it):
        if solver["schedule"] == "multistep":
            f = solver["gamma"] ** sum(1 for step in solver["steps"] if step <= it)
        elif solver["schedule"] == "cosine":
            f = 0.5 * (1 + math.cos(math.pi * min(it, solver["maxIter"]) / solver["maxIter"]))
        else:
            f = 1.0
        if it < solver["warmupIters"]:
            a = it / solver["warmupIters"]
            f *= solver["warmupFactor"] * (1 - a) + a
        return f
    return factor


solver = json.loads(solver_json)
opt = solver_optimizer(model, solver)
schedule = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(solver))
clip = solver["clipGradNorm"]
s = size / 128
images = [torch.rand(3, size, size) for _ in range(batch)]
targets = [{"boxes": torch.tensor([[10.0, 20.0, 60.0, 70.0], [70.0, 30.0, 110.0, 90.0]]) * s, "labels": torch.tensor([0, 2])}
           for _ in range(batch)]
fb, op = [], []
for i in range(iters + 1):
    t0 = time.perf_counter()
    losses = model(images, targets)
    loss = sum(losses.values())
    opt.zero_grad()
    loss.backward()
    t1 = time.perf_counter()
    if clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    schedule.step()
    t2 = time.perf_counter()
    if i > 0:  # the first step warms up
        fb.append(t1 - t0)
        op.append(t2 - t1)
print(json.dumps({"torch": torch.__version__, "torchvision": torchvision.__version__, "threads": torch.get_num_threads(),
                  "optimizer": type(opt).__name__, "clipGradNorm": clip, "iters": iters,
                  "forwardBackward": sorted(fb)[len(fb) // 2], "optimizerTime": sorted(op)[len(op) // 2]}))
