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

BN layers get seeded non-trivial statistics and affine parameters so eval mode checks them; the classification
bias and weights are spread so that the post-processing keeps a few hundred candidates.
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
    """Seeded BN statistics / affine parameters and a spread classifier, so that parity checks say something."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(0.5 + torch.rand(c, generator=gen))
                m.bias.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=gen))
        cls = model.head.classification_head.cls_logits
        cls.bias.copy_(-3.0 + 2.0 * torch.rand(cls.bias.shape, generator=gen))


def spread_logits(model, x):
    """Rescales the classifier so that, on `x` in eval mode, logits minus bias have standard deviation 1: scores
    spread over (0, 1) without saturating at 1.0 (ties there would make the detection order arbitrary)."""
    cls = model.head.classification_head.cls_logits
    model.eval()
    with torch.no_grad():
        logits = model.head(list(model.backbone(x).values()))["cls_logits"]  # [N, HWA, K], channel a * K + k
        n = logits.shape[0]
        contributions = logits.reshape(n, -1, cls.bias.numel()) - cls.bias  # [N, HW, A * K]
        cls.weight.mul_(1.0 / max(contributions.std().item(), 1e-6))


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
    spread_logits(model, x)

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
    )
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
    print(f"{args.out}: {len(weights)} weights, {len(out)} outputs, "
          f"{sum(len(d['boxes']) for d in detections)} detections, "
          f"loss_cls {out['loss_cls'].item():.6f} loss_box {out['loss_box'].item():.6f}")


if __name__ == "__main__":
    main()
