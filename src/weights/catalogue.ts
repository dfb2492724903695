import { InputError } from '../util/errors.js';
import type { TorchvisionLayout } from './torchvision.js';

/**
 * The torchvision weights psdet knows by name (`--weights torchvision:NAME`): where torchvision publishes them and
 * the sha256 prefix in their file names, as torchvision 0.14's model builders list them
 * (torchvision/models/resnet.py, torchvision/models/detection/retinanet.py).
 */
export interface CatalogueEntry {
  /** The name after `torchvision:`. */
  name: string;
  url: string;
  /** The first hex digits of the file's sha256, from its name (torchvision's check_hash). */
  sha256Prefix: string;
  /** An ImageNet classifier (backbone only) or a whole COCO RetinaNet. */
  layout: TorchvisionLayout;
  depth: 18 | 34 | 50 | 101;
  /** Classes of the checkpoint's classification head (RetinaNet only): torchvision's 91 COCO labels. */
  numClasses?: number;
  /** What torchvision reports for these weights (ImageNet top-1 %, or COCO val2017 box AP). */
  reported: string;
}

const BASE = 'https://download.pytorch.org/models';

function entry(name: string, file: string, layout: TorchvisionLayout, depth: CatalogueEntry['depth'], reported: string, numClasses?: number): CatalogueEntry {
  const m = /-([0-9a-f]{8,})\.pth$/.exec(file);
  if (m === null) throw new Error(`catalogue: ${file} has no hash in its name`);
  return { name, url: `${BASE}/${file}`, sha256Prefix: m[1]!, layout, depth, reported, ...(numClasses === undefined ? {} : { numClasses }) };
}

/**
 * The plain names are the weights torchvision's detection builders start from (IMAGENET1K_V1, the classic
 * recipe); `.IMAGENET1K_V2` names the newer classifier weights where torchvision has them.
 */
export const CATALOGUE: readonly CatalogueEntry[] = [
  entry('resnet18', 'resnet18-f37072fd.pth', 'resnet', 18, 'ImageNet top-1 69.758'),
  entry('resnet34', 'resnet34-b627a593.pth', 'resnet', 34, 'ImageNet top-1 73.314'),
  entry('resnet50', 'resnet50-0676ba61.pth', 'resnet', 50, 'ImageNet top-1 76.130'),
  entry('resnet50.IMAGENET1K_V2', 'resnet50-11ad3fa6.pth', 'resnet', 50, 'ImageNet top-1 80.858'),
  entry('resnet101', 'resnet101-63fe2227.pth', 'resnet', 101, 'ImageNet top-1 77.374'),
  entry('resnet101.IMAGENET1K_V2', 'resnet101-cd907fc2.pth', 'resnet', 101, 'ImageNet top-1 81.886'),
  entry('retinanet_resnet50_fpn_coco', 'retinanet_resnet50_fpn_coco-eeacb38b.pth', 'retinanet', 50, 'COCO val2017 box AP 36.4', 91),
];

/** Known torchvision weights psdet cannot hold, and why. */
const UNSUPPORTED: Record<string, string> = {
  retinanet_resnet50_fpn_v2_coco:
    "its head has GroupNorm after every tower conv and its FPN takes P6 from P5 with another layout; psdet's RetinaNet head has no norm layers",
};

/** The catalogue entry of `name` (the part after `torchvision:`); an unknown name lists the known ones. */
export function catalogueEntry(name: string): CatalogueEntry {
  const found = CATALOGUE.find((e) => e.name === name);
  if (found !== undefined) return found;
  const why = UNSUPPORTED[name];
  if (why !== undefined) throw new InputError(`torchvision:${name}: not supported (${why})`);
  throw new InputError(`torchvision:${name}: unknown weights; known: ${CATALOGUE.map((e) => e.name).join(', ')}`);
}

/**
 * torchvision's COCO detection labels: index = COCO category id, 'N/A' for the ids COCO 2017 does not use,
 * 0 = background (torchvision/models/_meta.py). A 91-way torchvision head's class k is COCO category id k.
 */
export const TORCHVISION_COCO_LABELS: readonly string[] = [
  '__background__', 'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat',
  'traffic light', 'fire hydrant', 'N/A', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse',
  'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe', 'N/A', 'backpack', 'umbrella', 'N/A', 'N/A', 'handbag',
  'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove',
  'skateboard', 'surfboard', 'tennis racket', 'bottle', 'N/A', 'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl',
  'banana', 'apple', 'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair',
  'couch', 'potted plant', 'bed', 'N/A', 'dining table', 'N/A', 'N/A', 'toilet', 'N/A', 'tv', 'laptop', 'mouse',
  'remote', 'keyboard', 'cell phone', 'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'N/A', 'book', 'clock',
  'vase', 'scissors', 'teddy bear', 'hair drier', 'toothbrush',
];
