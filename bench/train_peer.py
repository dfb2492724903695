"""Peer figure for bench/train.ts: torchvision RetinaNet training steps on this machine's CPU with the same sizes,
batch, classes and iterations as ours, split into forward+backward and optimizer time. Prints one JSON line.

Usage: /usr/bin/python3 bench/train_peer.py tiny|r50 SIZE BATCH ITERS NUM_CLASSES
  tiny: ResNet-18 at 1/4 width (stem 16) built from torchvision's own blocks, FPN 32, head depth 2, BatchNorm
        (psdet's tiny config uses psBN: same cost), stem frozen;
  r50:  torchvision's retinanet_resnet50_fpn, random init, stem frozen (trainable_backbone_layers=4 semantics)."""
import json
import os
import sys
import time

import torch
import torchvision
from torchvision.models.detection import RetinaNet, retinanet_resnet50_fpn
from torchvision.models.detection.backbone_utils import BackboneWithFPN
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
torch.manual_seed(0)
if variant == "tiny":
    model = tiny_model(num_classes, size)
else:
    model = retinanet_resnet50_fpn(weights=None, weights_backbone=None, num_classes=num_classes, min_size=size, max_size=size)
    for name, p in model.backbone.body.named_parameters():
        if name.startswith("conv1") or name.startswith("bn1"):
            p.requires_grad_(False)
model.train()
opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9, weight_decay=1e-4)
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
    opt.step()
    t2 = time.perf_counter()
    if i > 0:  # the first step warms up
        fb.append(t1 - t0)
        op.append(t2 - t1)
print(json.dumps({"torch": torch.__version__, "torchvision": torchvision.__version__, "threads": torch.get_num_threads(),
                  "forwardBackward": sorted(fb)[len(fb) // 2], "optimizer": sorted(op)[len(op) // 2]}))
