#!/usr/bin/env python3
"""Superseded by `convert-weights IN OUT.safetensors` (src/cli/convert-weights.ts), which needs no Python and keeps
float16 / bfloat16 as stored; kept for reference.

Converts a PyTorch checkpoint (.pth: a state_dict, or a dict holding one under "model" / "state_dict") to
safetensors, keeping torchvision's names (psdet's torchvision loader maps them). Uses only Debian's python3-torch.

    python3 tools/pth_to_safetensors.py resnet50-0676ba61.pth resnet50.safetensors
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import save_file  # noqa: E402


def state_dict_of(obj, path):
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict):
        for key in ("model", "state_dict", "model_state"):
            if key in obj and isinstance(obj[key], dict):
                return obj[key]
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise SystemExit(f"{path}: no state_dict found (expected a dict of tensors, or one under 'model' / 'state_dict')")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="PyTorch checkpoint (.pth / .pt)")
    parser.add_argument("output", help="safetensors file to write")
    parser.add_argument("--keep-dtype", action="store_true", help="keep float16/float64 as stored (default: float32)")
    args = parser.parse_args()
    try:
        obj = torch.load(args.input, map_location="cpu")
    except Exception as err:  # noqa: BLE001 - any load failure is the user's file
        raise SystemExit(f"{args.input}: cannot load ({err})")
    state = state_dict_of(obj, args.input)
    tensors = {}
    for name, t in state.items():
        if not isinstance(t, torch.Tensor):
            continue
        if t.is_floating_point() and not args.keep_dtype:
            t = t.float()
        tensors[name] = t
    save_file(tensors, args.output, metadata={"source": os.path.basename(args.input), "format": "pt"})
    print(f"{args.output}: {len(tensors)} tensors")


if __name__ == "__main__":
    main()
