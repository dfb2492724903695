"""Peer figure for bench/train.ts: torchvision RetinaNet training steps on this machine's CPU (same size, batch and
iterations as ours), split into forward+backward and optimizer time. Prints one JSON line.
Usage: /usr/bin/python3 bench/train_peer.py DEPTH SIZE BATCH ITERS"""
import json
import sys
import time

import torch
import torchvision
from torchvision.models.detection import RetinaNet
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

depth, size, batch, iters = (int(a) for a in sys.argv[1:5])
torch.manual_seed(0)
backbone = resnet_fpn_backbone(
    backbone_name=f"resnet{depth}", weights=None, trainable_layers=4, returned_layers=[2, 3, 4],
    extra_blocks=LastLevelP6P7(256, 256),
)
model = RetinaNet(backbone, num_classes=91, min_size=size, max_size=size)
model.train()
opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9, weight_decay=1e-4)
images = [torch.rand(3, size, size) for _ in range(batch)]
targets = [{"boxes": torch.tensor([[10.0, 20.0, 200.0, 240.0], [50.0, 60.0, 120.0, 90.0]]), "labels": torch.tensor([1, 5])} for _ in range(batch)]
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
