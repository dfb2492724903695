"""Reference for test/analysis/collapse-parity.test.ts: conv -> BatchNorm2d (eval) -> ReLU in PyTorch, with a forward
hook on the ReLU recording each channel's max input over a probe of 3 images, and the dead / parameter-collapsed
channels as the DESIGN defines them. Writes test/fixtures/collapse-conv-bn-relu.json.

    /usr/bin/python3 tools/collapse_fixture.py
"""
import json
import os

import torch

torch.manual_seed(6)
C_IN, C_OUT, H, W = 3, 12, 10, 10
ALPHA = 0.1
GAMMA_THRESHOLD = 0.01

conv = torch.nn.Conv2d(C_IN, C_OUT, 3, padding=1, bias=False)
bn = torch.nn.BatchNorm2d(C_OUT, eps=1e-5)
with torch.no_grad():
    bn.running_mean.copy_(torch.randn(C_OUT) * 0.3)
    bn.running_var.copy_(torch.rand(C_OUT) + 0.5)
    gamma = torch.randn(C_OUT)
    beta = torch.randn(C_OUT) * 0.5
    # Channels 0-2: tiny gamma, negative beta -> collapsed by both views (with alpha 0).
    gamma[0:3] = torch.tensor([0.004, -0.002, 0.0])
    beta[0:3] = torch.tensor([-0.3, -0.05, -0.08])
    # Channel 3: tiny gamma, beta -0.05: collapsed under BN, alive under psBN (beta + 0.1 > 0).
    gamma[3] = 0.003
    beta[3] = -0.05
    # Channel 4: large gamma, very negative beta: dead but not parameter-collapsed.
    gamma[4] = 0.5
    beta[4] = -6.0
    bn.weight.copy_(gamma)
    bn.bias.copy_(beta)
bn.eval()

x = torch.randn(3, C_IN, H, W)
maxima = {}


def run(alpha):
    seen = []

    def hook(_module, inputs):
        seen.append(inputs[0].amax(dim=(0, 2, 3)))

    relu = torch.nn.ReLU()
    handle = relu.register_forward_pre_hook(hook)
    with torch.no_grad():
        for i in range(x.shape[0]):  # one image per batch, as the probe runs
            relu(bn(conv(x[i : i + 1])) + alpha)
    handle.remove()
    m = torch.stack(seen).amax(dim=0)
    dead = [c for c in range(C_OUT) if m[c] <= 0]
    param = [c for c in range(C_OUT) if abs(gamma[c]) < GAMMA_THRESHOLD and beta[c] + alpha <= 0]
    return {"alpha": alpha, "max": m.tolist(), "dead": dead, "paramCollapsed": param}


fixture = {
    "about": "tools/collapse_fixture.py: conv3x3 (no bias) -> BatchNorm2d eval (eps 1e-5) [+ alpha] -> ReLU, PyTorch "
    + torch.__version__,
    "gammaThreshold": GAMMA_THRESHOLD,
    "input_nchw": {"shape": list(x.shape), "data": x.flatten().tolist()},
    "conv_oihw": {"shape": list(conv.weight.shape), "data": conv.weight.detach().flatten().tolist()},
    "bn": {
        "gamma": gamma.tolist(),
        "beta": beta.tolist(),
        "running_mean": bn.running_mean.tolist(),
        "running_var": bn.running_var.tolist(),
        "eps": 1e-5,
    },
    "bn_result": run(0.0),
    "psbn_result": run(ALPHA),
}
out = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "collapse-conv-bn-relu.json")
with open(out, "w") as f:
    json.dump(fixture, f)
print(out, "bn dead", fixture["bn_result"]["dead"], "param", fixture["bn_result"]["paramCollapsed"],
      "psbn dead", fixture["psbn_result"]["dead"], "param", fixture["psbn_result"]["paramCollapsed"])
