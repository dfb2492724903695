#!/usr/bin/python3
"""Reference values for psdet's pure detection parts, computed with torchvision 0.14 (Debian python3-torchvision).

Writes test/fixtures/boxes_torchvision.json, read by test/boxes/torchvision-parity.test.ts and
test/model/losses-parity.test.ts. Run from the project root:  /usr/bin/python3 tools/gen_boxes_fixtures.py

Large inputs (logits, deltas) are not stored: both sides build them from the same closed formulas
(see `formula_logits` / `formula_deltas`), so the fixture stays small.
"""
import hashlib
import json
import math
import os
import types

import torch
import torchvision
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.retinanet import RetinaNet, RetinaNetHead, _default_anchorgen
from torchvision.ops import boxes as box_ops

torch.manual_seed(0)
g = torch.Generator().manual_seed(1234)


def f32list(t):
    return [float(v) for v in t.flatten().tolist()]


def sha256_f32(t):
    return hashlib.sha256(t.detach().to(torch.float32).contiguous().numpy().tobytes()).hexdigest()


def anchors_for(h, w, feature_sizes):
    gen = _default_anchorgen()
    images = ImageList(torch.zeros(1, 3, h, w), [(h, w)])
    feats = [torch.zeros(1, 1, fh, fw) for fh, fw in feature_sizes]
    return gen(images, feats)[0], gen


def rand_boxes(n, lo, hi, min_size=2.0):
    xy = torch.rand(n, 2, generator=g) * (hi - lo) + lo
    wh = torch.rand(n, 2, generator=g) * (hi - lo) / 2 + min_size
    return torch.cat([xy, xy + wh], 1).round(decimals=1)


def formula_logits(count):
    # logits[i] = 3 * sin(0.37 * i) - 1, float32
    return torch.tensor([3 * math.sin(0.37 * i) - 1 for i in range(count)], dtype=torch.float64).to(torch.float32)


def formula_deltas(count):
    # deltas[i] = 0.5 * cos(0.11 * i), float32
    return torch.tensor([0.5 * math.cos(0.11 * i) for i in range(count)], dtype=torch.float64).to(torch.float32)


out = {"generator": "tools/gen_boxes_fixtures.py", "torch": torch.__version__, "torchvision": torchvision.__version__}

# --- anchors -----------------------------------------------------------------------------------------------------
anchor_cases = []
for (h, w, fs) in [
    (320, 320, [(40, 40), (20, 20), (10, 10), (5, 5), (3, 3)]),
    (96, 128, [(12, 16), (6, 8), (3, 4), (2, 2), (1, 1)]),
    (64, 64, [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]),
    (800, 1216, [(100, 152), (50, 76), (25, 38), (13, 19), (7, 10)]),  # a COCO training batch
]:
    anchors, gen = anchors_for(h, w, fs)
    counts = [fh * fw * 9 for fh, fw in fs]
    starts = [sum(counts[:i]) for i in range(len(counts))]
    anchor_cases.append({
        "imageHeight": h, "imageWidth": w, "featureSizes": fs, "count": anchors.shape[0],
        "sha256": sha256_f32(anchors),
        # first and last anchor of each level, for readable failures
        "levelFirst": [f32list(anchors[s]) for s in starts],
        "levelLast": [f32list(anchors[s + c - 1]) for s, c in zip(starts, counts)],
    })
out["anchors"] = {
    "sizes": [list(s) for s in _default_anchorgen().sizes],
    "cellAnchors": [f32list(c) for c in _default_anchorgen().cell_anchors],
    "cases": anchor_cases,
}
small_anchors, _ = anchors_for(64, 64, [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)])
out["smallAnchors"] = f32list(small_anchors)  # 774 anchors, used by the matcher, loss and postprocess cases

# --- IoU ---------------------------------------------------------------------------------------------------------
a = rand_boxes(7, 0, 50)
b = rand_boxes(11, 0, 50)
out["iou"] = {"a": f32list(a), "b": f32list(b), "iou": f32list(box_ops.box_iou(a, b))}

# --- matcher -----------------------------------------------------------------------------------------------------
gt = torch.tensor([[4.0, 6.0, 40.0, 30.0], [30.0, 30.0, 62.0, 63.0], [10.0, 10.0, 18.0, 16.0], [0.0, 40.0, 20.0, 64.0],
                   [100.0, 100.0, 120.0, 120.0]])
quality = box_ops.box_iou(gt, small_anchors)
out["matcher"] = {
    "gtBoxes": f32list(gt),
    "lowQuality": det_utils.Matcher(0.5, 0.4, True)(quality).tolist(),
    "noLowQuality": det_utils.Matcher(0.5, 0.4, False)(quality).tolist(),
    "iouSum": float(quality.double().sum()),
}

# --- box coder ---------------------------------------------------------------------------------------------------
anc = rand_boxes(20, 0, 100)
tgt = rand_boxes(20, 0, 100)
coder = det_utils.BoxCoder((1.0, 1.0, 1.0, 1.0))
coder_w = det_utils.BoxCoder((10.0, 10.0, 5.0, 5.0))
deltas = torch.randn(20, 4, generator=g) * 2
deltas[0, 2] = 9.0  # beyond the clip
deltas[1, 3] = 7.5
out["boxCoder"] = {
    "anchors": f32list(anc), "gtBoxes": f32list(tgt), "deltas": f32list(deltas),
    "encoded": f32list(coder.encode_single(tgt, anc)),
    "encodedW": f32list(coder_w.encode_single(tgt, anc)),
    "decoded": f32list(coder.decode_single(deltas, anc)),
    "decodedW": f32list(coder_w.decode_single(deltas, anc)),
}

# --- NMS ---------------------------------------------------------------------------------------------------------
centres = torch.rand(12, 2, generator=g) * 100
boxes = []
for i in range(200):
    c = centres[i % 12] + torch.randn(2, generator=g) * 4
    wh = torch.rand(2, generator=g) * 20 + 10
    boxes.append(torch.cat([c - wh / 2, c + wh / 2]))
boxes = torch.stack(boxes)
scores = torch.randperm(200, generator=g).to(torch.float32) / 200 + 0.001  # distinct
labels = torch.randint(0, 4, (200,), generator=g)
out["nms"] = {
    "boxes": f32list(boxes), "scores": f32list(scores), "labels": labels.tolist(),
    "keep05": box_ops.nms(boxes, scores, 0.5).tolist(),
    "keep03": box_ops.nms(boxes, scores, 0.3).tolist(),
    "batched05": box_ops.batched_nms(boxes, scores, labels, 0.5).tolist(),
}

# --- losses ------------------------------------------------------------------------------------------------------
K = 3
A = small_anchors.shape[0]
targets = [
    {"boxes": torch.tensor([[4.0, 6.0, 40.0, 30.0], [30.0, 30.0, 62.0, 63.0], [10.0, 10.0, 18.0, 16.0]]),
     "labels": torch.tensor([2, 0, 1])},
    {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)},
    {"boxes": torch.tensor([[0.0, 0.0, 64.0, 64.0]]), "labels": torch.tensor([1])},
]
N = len(targets)
logits = formula_logits(N * A * K).reshape(N, A, K).requires_grad_(True)
bbox = formula_deltas(N * A * 4).reshape(N, A, 4).requires_grad_(True)
head = RetinaNetHead(8, 9, K)
matcher = det_utils.Matcher(0.5, 0.4, True)
matched = []
for t in targets:
    if t["boxes"].numel() == 0:
        matched.append(torch.full((A,), -1, dtype=torch.int64))
    else:
        matched.append(matcher(box_ops.box_iou(t["boxes"], small_anchors)))
head_outputs = {"cls_logits": logits, "bbox_regression": bbox}
anchors_list = [small_anchors] * N
loss_cases = {}
for kind in ["l1", "smooth_l1", "giou"]:
    head.regression_head._loss_type = kind
    losses = head.compute_loss(targets, head_outputs, anchors_list, matched)
    gl, gb = torch.autograd.grad([losses["classification"], losses["bbox_regression"]], [logits, bbox])
    loss_cases[kind] = {
        "lossCls": float(losses["classification"]), "lossBox": float(losses["bbox_regression"]),
        # a few gradient entries, to check backprop end to end
        "gradClsSum": float(gl.double().abs().sum()), "gradBoxSum": float(gb.double().abs().sum()),
    }
out["losses"] = {
    "numClasses": K,
    "targets": [{"boxes": f32list(t["boxes"]), "labels": t["labels"].tolist()} for t in targets],
    "matched": [m.tolist() for m in matched],
    "cases": loss_cases,
    "smoothL1Beta": 1.0,
}

# --- postprocess -------------------------------------------------------------------------------------------------
counts = [fh * fw * 9 for fh, fw in [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]]
pp_logits = formula_logits(A * K).reshape(A, K)
pp_deltas = formula_deltas(A * 4).reshape(A, 4)
ns = types.SimpleNamespace(score_thresh=0.05, topk_candidates=20, nms_thresh=0.5, detections_per_img=30,
                           box_coder=det_utils.BoxCoder((1.0, 1.0, 1.0, 1.0)))
split = lambda t: list(t.split(counts))  # noqa: E731
dets = RetinaNet.postprocess_detections(
    ns, {"cls_logits": [x[None] for x in split(pp_logits)], "bbox_regression": [x[None] for x in split(pp_deltas)]},
    [split(small_anchors)], [(60, 50)])[0]
out["postprocess"] = {
    "numClasses": K, "imageSize": [60, 50], "scoreThreshold": 0.05, "topkCandidates": 20, "nmsThreshold": 0.5,
    "detectionsPerImage": 30,
    "boxes": f32list(dets["boxes"]), "scores": f32list(dets["scores"]), "labels": dets["labels"].tolist(),
}

# a 320 x 320 batch, 5 classes, top-1000 per level: over 1000 boxes reach batched_nms (its per-class path on CPU)
fs320 = [(40, 40), (20, 20), (10, 10), (5, 5), (3, 3)]
anchors320, _ = anchors_for(320, 320, fs320)
A320, K320 = anchors320.shape[0], 5
counts320 = [h * w * 9 for h, w in fs320]
split320 = lambda t: list(t.split(counts320))  # noqa: E731
ns320 = types.SimpleNamespace(score_thresh=0.05, topk_candidates=1000, nms_thresh=0.5, detections_per_img=100,
                              box_coder=det_utils.BoxCoder((1.0, 1.0, 1.0, 1.0)))
logits320 = formula_logits(A320 * K320).reshape(A320, K320)
deltas320 = formula_deltas(A320 * 4).reshape(A320, 4)
dets320 = RetinaNet.postprocess_detections(
    ns320, {"cls_logits": [x[None] for x in split320(logits320)], "bbox_regression": [x[None] for x in split320(deltas320)]},
    [split320(anchors320)], [(300, 310)])[0]
out["postprocess320"] = {
    "numClasses": K320, "imageSize": [300, 310], "featureSizes": fs320, "scoreThreshold": 0.05, "topkCandidates": 1000,
    "nmsThreshold": 0.5, "detectionsPerImage": 100,
    "boxes": f32list(dets320["boxes"]), "scores": f32list(dets320["scores"]), "labels": dets320["labels"].tolist(),
}

# --- real COCO boxes (coco-mini train): matched_idxs at training resolution ---------------------------------------
COCO_MINI = os.environ.get("PSDET_COCO_MINI", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "coco-mini"))
ann_path = os.path.join(COCO_MINI, "annotations", "instances_train2017.json")
if os.path.exists(ann_path):
    with open(ann_path) as fh:
        coco = json.load(fh)
    by_image = {}
    for a in coco["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    images = sorted(coco["images"], key=lambda im: im["id"])
    crowd_ids = sorted({a["image_id"] for a in coco["annotations"] if a["iscrowd"]})
    chosen = [im for im in images if im["id"] in by_image][:3] + [im for im in images if im["id"] in crowd_ids[:2]]
    real = []
    for im in chosen:
        h, w = im["height"], im["width"]
        scale = min(800 / min(h, w), 1333 / max(h, w))
        nh, nw = math.floor(h * scale), math.floor(w * scale)
        ph, pw = math.ceil(nh / 32) * 32, math.ceil(nw / 32) * 32
        p3 = (ph // 8, pw // 8)
        fs = [p3, (ph // 16, pw // 16), (ph // 32, pw // 32)]
        fs.append(((fs[2][0] + 1) // 2, (fs[2][1] + 1) // 2))
        fs.append(((fs[3][0] + 1) // 2, (fs[3][1] + 1) // 2))
        ratio = torch.tensor([nw / w, nh / h, nw / w, nh / h], dtype=torch.float32)
        plain = [a for a in by_image[im["id"]] if not a["iscrowd"] and a["bbox"][2] > 0 and a["bbox"][3] > 0]
        crowd = [a for a in by_image[im["id"]] if a["iscrowd"]]
        xyxy = lambda anns: (torch.tensor([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]  # noqa: E731
                                           for a in anns], dtype=torch.float32).reshape(-1, 4) * ratio)
        boxes = xyxy(plain)
        anchors_im, _ = anchors_for(ph, pw, fs)
        matched = det_utils.Matcher(0.5, 0.4, True)(box_ops.box_iou(boxes, anchors_im))
        nonbg = torch.where(matched != -1)[0]
        real.append({
            "imageId": im["id"], "paddedSize": [ph, pw], "featureSizes": fs, "boxes": f32list(boxes),
            "crowdBoxes": f32list(xyxy(crowd)), "numAnchors": anchors_im.shape[0],
            # matched_idxs is mostly -1: store the other entries as (anchor, value) pairs
            "nonBackground": [[int(i), int(matched[i])] for i in nonbg],
        })
    out["cocoMini"] = real

with open("test/fixtures/boxes_torchvision.json", "w") as fh:
    json.dump(out, fh, separators=(",", ":"))
print("wrote test/fixtures/boxes_torchvision.json")
