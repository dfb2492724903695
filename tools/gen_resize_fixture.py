#!/usr/bin/env python3
"""Reference for the bilinear resize in src/data/tensor.ts (batchToTensor): torchvision's resize arithmetic.

Input: a 12x9 RGB image with pixel (x, y, c) = (37 x + 91 y + 53 c) mod 256 (the test writes it as a PNG).
Output: torch.nn.functional.interpolate(mode='bilinear', align_corners=False), no antialias -- what torchvision's
GeneralizedRCNNTransform does, enlarging and shrinking alike -- at the sizes the project's resize rule gives for
shorter sides 15 and 22 (enlarging) and 5 and 3 (shrinking), unflipped and flipped. Float values (float32
arithmetic, printed to 5 decimals); the test compares the normalised network input within 1e-4.

Run: /usr/bin/python3 tools/gen_resize_fixture.py > test/data/fixtures/resize_torch.json
"""
import json

import torch
import torch.nn.functional as F

W, H = 12, 9
img = torch.tensor([[[(37 * x + 91 * y + 53 * c) % 256 for c in range(3)] for x in range(W)] for y in range(H)],
                   dtype=torch.float32)
cases = []
# resizedSize(9, 12, S, 1000): S = 15 -> 20x15, 22 -> 29x22 (12 * 22 / 9 = 29.33), 5 -> 7x5 (6.67), 3 -> 4x3
for min_size, out_w, out_h in [(15, 20, 15), (22, 29, 22), (5, 7, 5), (3, 4, 3)]:
    out = F.interpolate(img.permute(2, 0, 1)[None], size=(out_h, out_w), mode='bilinear', align_corners=False)
    out = out[0].permute(1, 2, 0)
    for flip in (False, True):
        o = out.flip(1) if flip else out
        cases.append({'minSize': min_size, 'width': out_w, 'height': out_h, 'flip': flip,
                      'pixels': [round(v, 5) for v in o.reshape(-1).tolist()]})
print(json.dumps({'source': 'torch %s F.interpolate bilinear align_corners=False' % torch.__version__,
                  'input': {'width': W, 'height': H, 'pixel': '(37 x + 91 y + 53 c) % 256'},
                  'cases': cases}))
