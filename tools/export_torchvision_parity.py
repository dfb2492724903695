#!/usr/bin/env python3
"""Exports a seeded torchvision RetinaNet and its outputs on a fixed input, for psdet's parity tests.

    python3 tools/export_torchvision_parity.py --variant small --out .fixtures/parity-small
    python3 tools/export_torchvision_parity.py --variant r50 --out .fixtures/parity-r50

Variants:
  small     ResNet-18 at 1/4 width (stem 16) built from torchvision's ResNet / BasicBlock, FPN 32, P6 from P5,
            torchvision's RetinaNetHead (4 convs, 32 wide), 7 classes. Fast enough for every test run.
  small-c5  the same with LastLevelP6P7(128, 32): torchvision then takes P6 from C5.
  r50       retinanet_resnet50_fpn(weights=None, weights_backbone=None): ResNet-50, BatchNorm2d, 91 classes.

Writes into --out:
  weights.safetensors  the model's state_dict under torchvision names (OIHW)
  outputs.safetensors  input [2, 320, 320, 3] (NHWC, normalised), eval-mode c3..c5 and p3..p7 (NHWC),
                       cls_logits [2, A, K], box_deltas [2, A, 4], anchors [A, 4] (xyxy), detections per image
                       (det{i}_boxes / det{i}_scores / det{i}_labels), ground truth (gt{i}_boxes / gt{i}_labels),
                       training-mode loss_cls / loss_box, and the stem BN running mean after that training pass
  meta.json            the psdet model config fields that describe the same network, and image sizes

BN layers get seeded non-trivial statistics and affine parameters so eval mode checks them. The box regressor is
scaled so that boxes move off their anchors, and the classifier is drawn until every decision of the
post-processing is taken with a margin (`separate_head`): the detections then cannot depend on float rounding, on
either side. The margins are written to meta.json.
"""
import argparse
import hashlib
import json
import os
import sys

import torch
import torch.nn as nn
import torchvision
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.retinanet import RetinaNet
from torchvision.models.resnet import BasicBlock, ResNet
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import save_file  # noqa: E402

SIZE = 320
# Boxes as psdet and torchvision hold them: xyxy pixels. Image 1 is smaller than the padded batch.
IMAGE_SIZES = [(320, 320), (300, 280)]
GT = [
    ([[20.0, 30.0, 120.0, 160.0], [150.0, 100.0, 300.0, 290.0], [60.0, 200.0, 90.0, 230.0]], [1, 3, 5]),
    ([[40.0, 40.0, 250.0, 210.0]], [2]),
]


def narrow_resnet18(stem):
    """torchvision's ResNet-18 with every width divided (stem 64 -> `stem`), rebuilt from its own _make_layer."""
    net = ResNet(BasicBlock, [2, 2, 2, 2], norm_layer=nn.BatchNorm2d)
    net.inplanes = stem
    net.conv1 = nn.Conv2d(3, stem, kernel_size=7, stride=2, padding=3, bias=False)
    net.bn1 = nn.BatchNorm2d(stem)
    net.layer1 = net._make_layer(BasicBlock, stem, 2)
    net.layer2 = net._make_layer(BasicBlock, stem * 2, 2, stride=2)
    net.layer3 = net._make_layer(BasicBlock, stem * 4, 2, stride=2)
    net.layer4 = net._make_layer(BasicBlock, stem * 8, 2, stride=2)
    net.fc = nn.Linear(stem * 8, 1000)
    for m in net.modules():  # ResNet.__init__'s init, again for the new layers
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
    return net


def build(variant):
    if variant == "r50":
        model = torchvision.models.detection.retinanet_resnet50_fpn(weights=None, weights_backbone=None)
        meta = dict(depth=50, widthMultiplier=1, fpnChannels=256, headChannels=256, headDepth=4, numClasses=91, p6Input="p5")
        return model, meta
    stem, fpn = 16, 32
    body = narrow_resnet18(stem)
    extra = LastLevelP6P7(fpn, fpn) if variant == "small" else LastLevelP6P7(stem * 8, fpn)
    backbone = BackboneWithFPN(
        body, {"layer2": "0", "layer3": "1", "layer4": "2"}, [stem * 2, stem * 4, stem * 8], fpn, extra_blocks=extra
    )
    model = RetinaNet(backbone, num_classes=7)
    meta = dict(
        depth=18, widthMultiplier=0.25, fpnChannels=fpn, headChannels=fpn, headDepth=4, numClasses=7,
        p6Input="p5" if variant == "small" else "c5",
    )
    return model, meta


def perturb(model, gen):
    """Seeded BN statistics and affine parameters, so that eval mode checks them."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(0.5 + torch.rand(c, generator=gen))
                m.bias.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=gen))


# The fixture's detections must not hang on float rounding: every discrete decision of the post-processing (score
# threshold, top-k cut, which same-class boxes overlap, which of two overlapping boxes wins, the order of the kept
# detections, the detections-per-image cut) is taken with a margin of at least MARGIN_LOGIT in logit (scores are a
# monotone function of logits) and MARGIN_IOU in IoU. psdet's logits agree with these to ~1e-5 (the parity test
# asserts a bound well below the margin), so both sides take every decision the same way.
MARGIN_LOGIT = 1e-3
MARGIN_IOU = 1e-3
# Classes that get detections (the others stay below the threshold): with 4-12 candidates each per batch, enough to
# exercise NMS and several levels, few enough to be well separated.
LIVE_CLASSES = 7
DELTA_STD = 0.2
# Classifier draws before giving up (about one in ten passes); PSDET_PARITY_DEBUG=1 prints each draw's margins.
MAX_TRIES = 500


def decision_margins(model, cls_logits, box_deltas, anchors, counts, image_sizes):
    """The smallest logit gap and IoU distance behind the decisions of RetinaNet.postprocess_detections, from
    float64 copies of the float32 head outputs; plus candidate and detection counts per image.

    cls_logits [N, A, K], box_deltas [N, A, 4], anchors [A, 4]; counts: anchors per level."""
    thresh = float(torch.tensor(model.score_thresh, dtype=torch.float32))
    thresh_logit = torch.logit(torch.tensor(thresh, dtype=torch.float64)).item()
    k = model.topk_candidates
    margin = dict(threshold=float("inf"), topk=float("inf"), nmsOrder=float("inf"), keptOrder=float("inf"), iou=float("inf"))
    candidates, kept_counts, levels_used = [], [], []
    for i, (h, w) in enumerate(image_sizes):
        logits_all = cls_logits[i].double()
        margin["threshold"] = min(margin["threshold"], (logits_all - thresh_logit).abs().min().item())
        level_logits, level_boxes, level_labels, used = [], [], [], 0
        for logits, deltas, level_anchors in zip(logits_all.split(counts), box_deltas[i].split(counts), anchors.split(counts)):
            flat = logits.flatten()
            idx = torch.where(flat > thresh_logit)[0]
            order = flat[idx].argsort(descending=True)
            if idx.numel() > k:
                margin["topk"] = min(margin["topk"], (flat[idx[order[k - 1]]] - flat[idx[order[k]]]).item())
            idx = idx[order[:k]]
            used += idx.numel() > 0
            anchor = torch.div(idx, logits.shape[1], rounding_mode="floor")
            boxes = model.box_coder.decode_single(deltas[anchor], level_anchors[anchor])
            level_boxes.append(torchvision.ops.clip_boxes_to_image(boxes, (h, w)))
            level_logits.append(flat[idx])
            level_labels.append(idx % logits.shape[1])
        logits, boxes, labels = torch.cat(level_logits), torch.cat(level_boxes), torch.cat(level_labels)
        keep = torchvision.ops.batched_nms(boxes, torch.sigmoid(logits.float()), labels, model.nms_thresh)
        # NMS takes the same decisions under small perturbations when, for every same-class pair with at least one
        # box kept, the IoU is clear of the threshold and, if they overlap, their order is clear.
        kept_mask = torch.zeros(labels.numel(), dtype=torch.bool)
        kept_mask[keep] = True
        pairs = (labels[:, None] == labels[None, :]) & (kept_mask[:, None] | kept_mask[None, :])
        pairs.fill_diagonal_(False)
        iou = torchvision.ops.box_iou(boxes.double(), boxes.double())
        if pairs.any():
            margin["iou"] = min(margin["iou"], (iou - model.nms_thresh)[pairs].abs().min().item())
        overlapping = pairs & (iou > model.nms_thresh)
        if overlapping.any():
            margin["nmsOrder"] = min(margin["nmsOrder"], (logits[:, None] - logits[None, :]).abs()[overlapping].min().item())
        kept = logits[keep[: model.detections_per_img + 1]]
        if kept.numel() > 1:
            margin["keptOrder"] = min(margin["keptOrder"], (kept[:-1] - kept[1:]).min().item())
        candidates.append(logits.numel())
        kept_counts.append(min(keep.numel(), model.detections_per_img))
        levels_used.append(used)
    logit = min(margin["threshold"], margin["topk"], margin["nmsOrder"], margin["keptOrder"])
    return dict(marginLogit=logit, marginIou=margin["iou"], parts=margin, candidates=candidates, detections=kept_counts,
                levelsWithCandidates=levels_used)


def equalise_levels(model, x):
    """Scales the FPN output convs (P3..P5, then P6 and P7, whose inputs depend on them) so that the classification
    tower's output has the same standard deviation on every level: detections then come from several levels. The
    convs have zero bias and the tower is conv + ReLU with zero bias, so a level's tower output scales with its conv."""
    fpn = model.backbone.fpn
    producers = [block[0] for block in fpn.layer_blocks] + [fpn.extra_blocks.p6, fpn.extra_blocks.p7]
    tower = model.head.classification_head.conv
    with torch.no_grad():
        for level, conv in enumerate(producers):
            stds = [tower(f).std().item() for f in model.backbone(x).values()]
            conv.weight.mul_(stds[0] / max(stds[level], 1e-12))


def separate_head(model, x, anchors, counts, gen):
    """Rescales the box regressor (deltas of standard deviation DELTA_STD: boxes really move off their anchors) and
    draws classifiers until the post-processing's decisions are well separated (`decision_margins`). Each draw:
    weights scaled so that logits minus bias have standard deviation 1; for LIVE_CLASSES classes a bias that lets
    between 4 and 12 logits of the batch pass the score threshold, set halfway across the widest gap between
    neighbouring logits there; for
    the other classes a bias that leaves every logit 3 below the threshold. Returns the margins."""
    head = model.head
    cls, reg = head.classification_head.cls_logits, head.regression_head.bbox_reg
    num_classes = head.classification_head.num_classes
    thresh_logit = torch.logit(torch.tensor(float(torch.tensor(model.score_thresh)), dtype=torch.float64)).item()
    model.eval()
    with torch.no_grad():
        equalise_levels(model, x)
        features = list(model.backbone(x).values())
        reg.weight.mul_(DELTA_STD / max(head(features)["bbox_regression"].std().item(), 1e-12))
        box_deltas = head.regression_head(features)
        cls_towers = [head.classification_head.conv(f) for f in features]

        def logits_now():  # [N, HWA, K], as RetinaNetClassificationHead.forward lays them out
            out = [cls(t).view(t.shape[0], -1, num_classes, *t.shape[2:]).permute(0, 3, 4, 1, 2) for t in cls_towers]
            return torch.cat([o.reshape(o.shape[0], -1, num_classes) for o in out], dim=1)

        for attempt in range(MAX_TRIES):
            # Logits are linear in the weights: one convolution per draw, scaled and shifted after.
            cls.weight.copy_(torch.randn(cls.weight.shape, generator=gen))
            cls.bias.zero_()
            raw = logits_now().double()
            scale = 1.0 / raw.std().item()
            raw *= scale
            bias = torch.empty(num_classes, dtype=torch.float64)
            for k in range(num_classes):
                top = raw[..., k].flatten().topk(13).values
                if k < LIVE_CLASSES:
                    c = 4 + int((top[3:12] - top[4:13]).argmax())  # the widest gap: the largest threshold margin
                    bias[k] = thresh_logit - 0.5 * (top[c - 1] + top[c]).item()
                else:
                    bias[k] = thresh_logit - top[0].item() - 3.0
            margins = decision_margins(model, (raw + bias).float(), box_deltas, anchors, counts, IMAGE_SIZES)
            if os.environ.get("PSDET_PARITY_DEBUG"):
                print(attempt, margins)
            if not (margins["marginLogit"] >= MARGIN_LOGIT and margins["marginIou"] >= MARGIN_IOU
                    and min(margins["detections"]) >= 5 and min(margins["levelsWithCandidates"]) >= 2):
                continue
            cls.weight.mul_(scale)
            cls.bias.copy_(bias.float().repeat(cls.bias.numel() // num_classes))
            margins = decision_margins(model, logits_now(), box_deltas, anchors, counts, IMAGE_SIZES)  # as saved
            if margins["marginLogit"] >= MARGIN_LOGIT and margins["marginIou"] >= MARGIN_IOU:
                return dict(margins, attempts=attempt + 1)
    raise SystemExit(f"no classifier with post-processing margins {MARGIN_LOGIT} / {MARGIN_IOU} in {MAX_TRIES} tries")


def nhwc(t):
    return t.permute(0, 2, 3, 1).contiguous()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", choices=["small", "small-c5", "r50"], default="small")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    model, meta = build(args.variant)
    gen = torch.Generator().manual_seed(args.seed + 1)
    perturb(model, gen)

    # Fixed input: a smooth image per batch entry plus noise, 0..1, then ImageNet normalisation (as the data
    # pipeline does); image 1 is zero outside its 300 x 280 content, like a padded batch.
    ys, xs = torch.meshgrid(torch.arange(SIZE, dtype=torch.float32), torch.arange(SIZE, dtype=torch.float32), indexing="ij")
    images = []
    for i in range(2):
        base = torch.stack([
            0.5 + 0.5 * torch.sin(xs / (17.0 + 5 * i) + ys / 23.0),
            0.5 + 0.5 * torch.cos(ys / (13.0 + 3 * i)),
            (xs + ys) / (2 * SIZE),
        ])
        img = (0.8 * base + 0.2 * torch.rand(3, SIZE, SIZE, generator=gen)).clamp(0, 1)
        mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
        img = (img - mean) / std
        h, w = IMAGE_SIZES[i]
        padded = torch.zeros(3, SIZE, SIZE)
        padded[:, :h, :w] = img[:, :h, :w]
        images.append(padded)
    x = torch.stack(images)
    image_list = ImageList(x, IMAGE_SIZES)
    with torch.no_grad():
        features = list(model.backbone.eval()(x).values())
        anchors = model.anchor_generator(image_list, features)[0]
    a = model.anchor_generator.num_anchors_per_location()[0]
    counts = [f.size(2) * f.size(3) * a for f in features]
    margins = separate_head(model, x, anchors, counts, gen)

    out = {"input": nhwc(x)}
    model.eval()
    with torch.no_grad():
        body = model.backbone.body(x)
        for name, key in zip(["c3", "c4", "c5"], ["0", "1", "2"]):
            out[name] = nhwc(body[key])
        features = list(model.backbone(x).values())
        for level, f in zip(range(3, 8), features):
            out[f"p{level}"] = nhwc(f)
        head_outputs = model.head(features)
        out["cls_logits"] = head_outputs["cls_logits"]
        out["box_deltas"] = head_outputs["bbox_regression"]
        anchors = model.anchor_generator(image_list, features)
        out["anchors"] = anchors[0]
        # RetinaNet.forward's eval path, without the resize transform: split per level, post-process.
        num_anchors_per_level = [f.size(2) * f.size(3) for f in features]
        hw = sum(num_anchors_per_level)
        a = head_outputs["cls_logits"].size(1) // hw
        num_anchors_per_level = [n * a for n in num_anchors_per_level]
        split_outputs = {k: list(v.split(num_anchors_per_level, dim=1)) for k, v in head_outputs.items()}
        split_anchors = [list(ap.split(num_anchors_per_level)) for ap in anchors]
        detections = model.postprocess_detections(split_outputs, split_anchors, IMAGE_SIZES)
        for i, det in enumerate(detections):
            out[f"det{i}_boxes"] = det["boxes"]
            out[f"det{i}_scores"] = det["scores"]
            out[f"det{i}_labels"] = det["labels"].to(torch.int32)

    targets = [{"boxes": torch.tensor(b), "labels": torch.tensor(l, dtype=torch.int64)} for b, l in GT]
    for i, t in enumerate(targets):
        out[f"gt{i}_boxes"] = t["boxes"]
        out[f"gt{i}_labels"] = t["labels"].to(torch.int32)
    weights = {k: v.clone() for k, v in model.state_dict().items()}

    model.train()
    features = list(model.backbone(x).values())
    head_outputs = model.head(features)
    anchors = model.anchor_generator(image_list, features)
    losses = model.compute_loss(targets, head_outputs, anchors)
    out["train_cls_logits"] = head_outputs["cls_logits"].detach()
    out["train_box_deltas"] = head_outputs["bbox_regression"].detach()
    out["loss_cls"] = losses["classification"].detach().reshape(1)
    out["loss_box"] = losses["bbox_regression"].detach().reshape(1)
    out["stem_running_mean_after_train"] = model.backbone.body.bn1.running_mean.detach().clone()

    save_file(weights, os.path.join(args.out, "weights.safetensors"), metadata={"variant": args.variant})
    save_file({k: v.float() if v.is_floating_point() else v for k, v in out.items()}, os.path.join(args.out, "outputs.safetensors"))
    with open(os.path.abspath(__file__), "rb") as f:
        script_sha256 = hashlib.sha256(f.read()).hexdigest()
    meta.update(
        scriptSha256=script_sha256, variant=args.variant, seed=args.seed, imageSizes=IMAGE_SIZES, size=SIZE, torchvision=torchvision.__version__,
        torch=torch.__version__, scoreThreshold=model.score_thresh, nmsThreshold=model.nms_thresh,
        detectionsPerImage=model.detections_per_img, topkCandidates=model.topk_candidates,
        margins=json.loads(json.dumps(margins).replace("Infinity", "null")),  # null: no such decision
    )
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
    print(f"{args.out}: {len(weights)} weights, {len(out)} outputs, "
          f"{sum(len(d['boxes']) for d in detections)} detections, "
          f"loss_cls {out['loss_cls'].item():.6f} loss_box {out['loss_box'].item():.6f}, "
          f"decision margins {margins['marginLogit']:.2e} logit / {margins['marginIou']:.2e} IoU after {margins['attempts']} draws")


if __name__ == "__main__":
    main()
