#!/usr/bin/env python3
"""Is the embedded shapes set learnable? Trains torchvision's RetinaNet with a small ResNet-18 FPN from random
weights on data/shapes (train2017) and reports AP50 on val2017 as training goes.

AP50 here: COCO-style 101-point interpolated precision at IoU 0.5, per class, averaged over classes (one greedy
match per detection in score order, as pycocotools does; the set has no crowd boxes).

Usage: python3 tools/check_shapes_torch.py [--root data/shapes] [--iters 1500] [--device cuda] [--seconds 240]
Generate the set first (any psdet command that uses it, or `npx tsx -e "import('./src/data/shapes.ts').then(m => m.ensureShapesDataset())"`).
"""
import argparse
import json
import os
import time

import torch
import torchvision
from torchvision.models.detection import RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.ops import box_iou
from torchvision.ops.feature_pyramid_network import LastLevelP6P7


def load_split(root, split, device):
    with open(os.path.join(root, 'annotations', f'instances_{split}.json')) as f:
        coco = json.load(f)
    by_image = {im['id']: [] for im in coco['images']}
    for a in coco['annotations']:
        by_image[a['image_id']].append(a)
    cats = sorted(c['id'] for c in coco['categories'])
    label_of = {c: k + 1 for k, c in enumerate(cats)}  # torchvision RetinaNet: labels 1..K (0 unused)
    images, targets = [], []
    for im in sorted(coco['images'], key=lambda i: i['id']):
        img = torchvision.io.read_image(os.path.join(root, split, im['file_name']), torchvision.io.ImageReadMode.RGB).float().div(255)
        anns = by_image[im['id']]
        boxes = torch.tensor([[a['bbox'][0], a['bbox'][1], a['bbox'][0] + a['bbox'][2], a['bbox'][1] + a['bbox'][3]]
                              for a in anns], dtype=torch.float32).reshape(-1, 4)
        labels = torch.tensor([label_of[a['category_id']] for a in anns], dtype=torch.int64)
        images.append(img.to(device))
        targets.append({'boxes': boxes.to(device), 'labels': labels.to(device)})
    return images, targets, len(cats)


def build_model(num_classes, size):
    try:
        backbone = resnet_fpn_backbone(backbone_name='resnet18', weights=None, trainable_layers=5,
                                       returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256))
    except TypeError:  # torchvision < 0.13
        backbone = resnet_fpn_backbone('resnet18', pretrained=False, trainable_layers=5,
                                       returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256))
    # Anchors for 16..80 px objects in 128 px images: base sizes 16..256 on P3..P7, 3 scales, 3 ratios.
    sizes = tuple((s, int(s * 2 ** (1 / 3)), int(s * 2 ** (2 / 3))) for s in (16, 32, 64, 128, 256))
    anchors = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * 5)
    return RetinaNet(backbone, num_classes + 1, anchor_generator=anchors, min_size=size, max_size=size)


def ap50(model, images, targets, num_classes):
    model.eval()
    dets = []
    with torch.no_grad():
        for i in range(0, len(images), 32):
            dets += model(images[i:i + 32])
    model.train()
    aps = []
    for c in range(1, num_classes + 1):
        scored = []  # (score, is_true_positive)
        n_gt = 0
        for d, t in zip(dets, targets):
            gt = t['boxes'][t['labels'] == c]
            n_gt += len(gt)
            keep = d['labels'] == c
            boxes, scores = d['boxes'][keep], d['scores'][keep]
            order = scores.argsort(descending=True)
            used = torch.zeros(len(gt), dtype=torch.bool, device=gt.device)
            iou = box_iou(boxes[order], gt) if len(gt) and len(order) else None
            for k, j in enumerate(order.tolist()):
                tp = False
                if iou is not None:
                    cand = iou[k].clone()
                    cand[used] = -1
                    best = int(cand.argmax())
                    if cand[best] >= 0.5:
                        used[best] = True
                        tp = True
                scored.append((float(scores[j]), tp))
        if n_gt == 0:
            continue
        scored.sort(key=lambda s: -s[0])
        tps = torch.tensor([s[1] for s in scored], dtype=torch.float64)
        tp_cum = tps.cumsum(0)
        fp_cum = (1 - tps).cumsum(0)
        recall = tp_cum / n_gt
        precision = tp_cum / (tp_cum + fp_cum).clamp(min=1e-12)
        # precision envelope, then 101 recall points
        for k in range(len(precision) - 2, -1, -1):
            precision[k] = max(precision[k], precision[k + 1])
        ap = 0.0
        for r in torch.linspace(0, 1, 101).tolist():
            idx = torch.searchsorted(recall, torch.tensor([r], dtype=torch.float64), right=False)
            ap += float(precision[idx]) if int(idx) < len(precision) else 0.0
        aps.append(ap / 101)
    return sum(aps) / len(aps), aps


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--root', default='data/shapes')
    p.add_argument('--iters', type=int, default=1500)
    p.add_argument('--batch', type=int, default=16)
    p.add_argument('--lr', type=float, default=0.01)
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--seconds', type=float, default=240)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--eval-every', type=int, default=250)
    args = p.parse_args()
    torch.manual_seed(0)
    dev = torch.device(args.device)
    train_x, train_y, k = load_split(args.root, 'train2017', dev)
    val_x, val_y, _ = load_split(args.root, 'val2017', dev)
    model = build_model(k, args.size).to(dev)
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.SGD(params, lr=args.lr, momentum=0.9, weight_decay=1e-4)
    warmup = max(1, min(200, args.iters // 5))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda it: min(1.0, 0.001 + it / warmup) * (0.1 if it >= int(0.8 * args.iters) else 1.0))
    print(f'torch {torch.__version__} torchvision {torchvision.__version__} device {dev}; '
          f'{len(train_x)} train / {len(val_x)} val images, {k} classes; batch {args.batch}, input {args.size}px')
    g = torch.Generator().manual_seed(0)
    t0 = time.time()
    it = 0
    model.train()
    while it < args.iters and time.time() - t0 < args.seconds:
        idx = torch.randint(len(train_x), (args.batch,), generator=g).tolist()
        xs, ys = [], []
        for i in idx:
            x, y = train_x[i], {key: v.clone() for key, v in train_y[i].items()}
            if torch.rand(1, generator=g).item() < 0.5:  # horizontal flip with boxes
                x = x.flip(-1)
                w = x.shape[-1]
                b = y['boxes']
                y['boxes'] = torch.stack([w - b[:, 2], b[:, 1], w - b[:, 0], b[:, 3]], 1)
            xs.append(x)
            ys.append(y)
        losses = model(xs, ys)
        loss = losses['classification'] + losses['bbox_regression']
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()
        sched.step()
        it += 1
        if not torch.isfinite(loss):
            raise SystemExit(f'non-finite loss at iteration {it}')
        if it % args.eval_every == 0 or it == args.iters:
            m, per = ap50(model, val_x, val_y, k)
            print(f'iter {it:5d}  {time.time() - t0:6.1f}s  loss_cls {losses["classification"].item():.3f}  '
                  f'loss_box {losses["bbox_regression"].item():.3f}  val AP50 {m:.3f}  per class '
                  + ' '.join(f'{a:.3f}' for a in per), flush=True)
    m, per = ap50(model, val_x, val_y, k)
    print(f'final: {it} iterations in {time.time() - t0:.1f}s, val AP50 {m:.3f} (per class ' + ' '.join(f'{a:.3f}' for a in per) + ')')


if __name__ == '__main__':
    main()
