#!/usr/bin/env python3
"""Writes PyTorch checkpoints with torch.save, and what PyTorch holds in them, for psdet's checkpoint-reader tests.

    python3 tools/make_pth_fixtures.py --out .fixtures/pth [--parity .fixtures/parity-small/weights.safetensors]

Writes into --out:
  resnet18.pth, resnet50.pth  torchvision resnet18 / resnet50 state dicts, random init (seeded), zip format
  mixed.pth                   float32, float16, bfloat16, float64, int64, int32, uint8, bool; a transposed
                              (non-contiguous) tensor, a slice with a storage offset, two views of one storage,
                              a 0-d tensor, an empty tensor, an nn.Parameter
  nested.pth                  {"model": <mixed>, "epoch": 3, "optimizer": {...}, "args": argparse.Namespace(...)}
  legacy.pth                  <mixed> in the legacy format (_use_new_zipfile_serialization=False)
  unsafe.pth                  a pickle that calls posix.system("touch OUT/unsafe-ran"): the reader must refuse it
  retinanet-small.pth         the parity fixture's RetinaNet state dict (when --parity is given)
  <name>.safetensors          for each checkpoint above except unsafe.pth, the tensors as PyTorch loads them
                              (torch.load), made contiguous, element types kept: the reference, bit for bit
  manifest.json               the script's sha256 (a changed script regenerates), each file's sha256
"""
import argparse
import hashlib
import json
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import load_file, save_file  # noqa: E402


def mixed():
    g = torch.Generator().manual_seed(7)
    base = torch.randn(6, 5, generator=g)
    shared = torch.arange(24, dtype=torch.float32)
    return {
        "f32": torch.randn(3, 4, generator=g),
        "f16": torch.randn(2, 3, 4, generator=g).half(),
        "bf16": torch.randn(5, 3, generator=g).bfloat16(),
        "f64": torch.randn(4, generator=g).double(),
        "i64": torch.tensor([0, -1, 2**31 - 1, -(2**31), 123456789], dtype=torch.int64),
        "i32": torch.tensor([[1, -2], [3, -4]], dtype=torch.int32),
        "u8": torch.tensor([0, 7, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "transposed": base.t(),  # [5, 6], strides (1, 5)
        "conv_permuted": torch.randn(2, 3, 4, 5, generator=g).permute(3, 2, 0, 1),  # [5, 4, 2, 3]
        "sliced": base[2:5, 1:4],  # storage offset 11, strides (5, 1)
        "view_a": shared[:12].view(3, 4),
        "view_b": shared[12:].view(2, 6),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
        "param": torch.nn.Parameter(torch.randn(2, 2, generator=g)),
        "num_batches_tracked": torch.tensor(11, dtype=torch.int64),
    }


class Unsafe:
    """Unpickling this runs `touch MARKER`: a reader that executes pickle code leaves the marker behind."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--parity", help="parity fixture weights.safetensors to re-save as retinanet-small.pth")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    files = {
        "resnet18": torchvision.models.resnet18(weights=None).state_dict(),
        "resnet50": torchvision.models.resnet50(weights=None).state_dict(),
        "mixed": mixed(),
    }
    for name, sd in files.items():
        torch.save(sd, os.path.join(args.out, f"{name}.pth"))
    # as torchvision's reference scripts save: {"model", "optimizer", "epoch", "args": argparse.Namespace}
    torch.save(
        {"model": mixed(), "epoch": 3, "optimizer": {"lr": 0.01, "step": [1, 2]}, "args": argparse.Namespace(lr=0.01, data_path="/coco")},
        os.path.join(args.out, "nested.pth"),
    )
    torch.save(mixed(), os.path.join(args.out, "legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save({"weight": torch.ones(2), "payload": Unsafe(os.path.join(os.path.abspath(args.out), "unsafe-ran"))}, os.path.join(args.out, "unsafe.pth"))
    names = ["resnet18", "resnet50", "mixed", "nested", "legacy"]
    if args.parity:
        torch.save(load_file(args.parity), os.path.join(args.out, "retinanet-small.pth"))
        names.append("retinanet-small")
    for name in names:
        loaded = torch.load(os.path.join(args.out, f"{name}.pth"), map_location="cpu")
        if "model" in loaded and isinstance(loaded["model"], dict):
            loaded = loaded["model"]
        save_file({k: v.detach() for k, v in loaded.items()}, os.path.join(args.out, f"{name}.safetensors"))
    with open(os.path.abspath(__file__), "rb") as f:
        script = hashlib.sha256(f.read()).hexdigest()
    manifest = {
        "scriptSha256": script,
        "parity": bool(args.parity),
        "torch": torch.__version__,
        "sha256": {n: sha256(os.path.join(args.out, f"{n}.pth")) for n in names + ["unsafe"]},
    }
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
