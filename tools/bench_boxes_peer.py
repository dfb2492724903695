#!/usr/bin/python3
"""torchvision 0.14 side of bench/boxes.ts: the same workloads, built from the same formulas, timed the same way.

Prints one JSON object {name: median seconds}. Usage: /usr/bin/python3 tools/bench_boxes_peer.py THREADS REPS
"""
import json
import math
import sys
import time
import types

import torch
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.retinanet import RetinaNet, RetinaNetHead, _default_anchorgen
from torchvision.ops import boxes as box_ops

threads, reps = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)


def median_time(fn):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def formula(count, a, b, c):
    i = torch.arange(count, dtype=torch.float64)
    return (a * torch.sin(b * i) + c).to(torch.float32)


def feature_sizes(h, w):
    # P3..P7 of a ResNet-FPN: stride 8, then halving with ceil (3x3 stride-2 convs, padding 1)
    sizes = []
    hh, ww = h // 8, w // 8
    for _ in range(5):
        sizes.append((hh, ww))
        hh, ww = (hh + 1) // 2, (ww + 1) // 2
    return sizes


H, W = 800, 1216
FS = feature_sizes(H, W)
gen = _default_anchorgen()
images = ImageList(torch.zeros(1, 3, H, W), [(H, W)])
feats = [torch.zeros(1, 1, h, w) for h, w in FS]
anchors = gen(images, feats)[0]
A = anchors.shape[0]

GT = torch.tensor([[50 + 70 * k, 40 + 45 * k, 50 + 70 * k + 30 + 25 * k, 40 + 45 * k + 60 + 10 * k] for k in range(15)],
                  dtype=torch.float32)
matcher = det_utils.Matcher(0.5, 0.4, True)
coder = det_utils.BoxCoder((1.0, 1.0, 1.0, 1.0))


def assign():
    m = matcher(box_ops.box_iou(GT, anchors))
    fg = torch.where(m >= 0)[0]
    coder.encode_single(GT[m[fg]], anchors[fg])


N_NMS = 5000
cx = formula(N_NMS, 500, 0.013, 600)
cy = formula(N_NMS, 350, 0.029, 400)
bw = formula(N_NMS, 40, 0.7, 90)
nms_boxes = torch.stack([cx - bw / 2, cy - bw / 3, cx + bw / 2, cy + bw / 3], 1)
nms_scores = formula(N_NMS, 0.45, 0.61, 0.5)
nms_labels = (torch.arange(N_NMS) * 7) % 5

K = 80
pp_logits = formula(A * K, 3, 0.37, -4.6).reshape(1, A, K)
pp_deltas = formula(A * 4, 0.5, 0.11, 0).reshape(1, A, 4)
counts = [h * w * 9 for h, w in FS]
ns = types.SimpleNamespace(score_thresh=0.05, topk_candidates=1000, nms_thresh=0.5, detections_per_img=100,
                           box_coder=coder)
head_outputs = {"cls_logits": list(pp_logits.split(counts, 1)), "bbox_regression": list(pp_deltas.split(counts, 1))}


def post():
    RetinaNet.postprocess_detections(ns, head_outputs, [list(anchors.split(counts))], [(H, W)])


# losses: batch 2 at 512 x 512
LH = 512
LFS = feature_sizes(LH, LH)
lanchors = gen(ImageList(torch.zeros(1, 3, LH, LH), [(LH, LH)]), [torch.zeros(1, 1, h, w) for h, w in LFS])[0]
LA = lanchors.shape[0]
ltargets = [{"boxes": GT[:6] * 0.6, "labels": torch.arange(6)}, {"boxes": GT[6:10] * 0.6, "labels": torch.arange(4)}]
lmatched = [matcher(box_ops.box_iou(t["boxes"], lanchors)) for t in ltargets]
head = RetinaNetHead(8, 9, K)


LLOGITS = formula(2 * LA * K, 3, 0.37, -4.6).reshape(2, LA, K)
LDELTAS = formula(2 * LA * 4, 0.5, 0.11, 0).reshape(2, LA, 4)


def loss_step():
    logits = LLOGITS.clone().requires_grad_(True)
    deltas = LDELTAS.clone().requires_grad_(True)
    losses = head.compute_loss(ltargets, {"cls_logits": logits, "bbox_regression": deltas}, [lanchors] * 2, lmatched)
    (losses["classification"] + losses["bbox_regression"]).backward()


out = {
    "anchors": median_time(lambda: gen(images, feats)),
    "assign": median_time(assign),
    "batchedNms": median_time(lambda: box_ops.batched_nms(nms_boxes, nms_scores, nms_labels, 0.5)),
    "postprocess": median_time(post),
    "losses": median_time(loss_step),
    "numAnchors": A,
    "numForeground": int((matcher(box_ops.box_iou(GT, anchors)) >= 0).sum()),
    "numKept": int(box_ops.batched_nms(nms_boxes, nms_scores, nms_labels, 0.5).numel()),
}
print(json.dumps(out))
