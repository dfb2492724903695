/** The help text of every weights option or argument (kept apart from weights.ts, which loads tfjs). */
export const WEIGHTS_HELP =
  'a psdet checkpoint, a .pth / .safetensors state dict (torchvision names), torchvision:NAME ' +
  '(resnet18, resnet34, resnet50, resnet101, retinanet_resnet50_fpn_coco), or an http(s) URL';
