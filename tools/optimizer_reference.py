"""Reference values for test/train/optimizer.test.ts: PyTorch 1.13 SGD / Adam / AdamW on a 3-element float32
parameter, three steps with fixed gradients, weight decay 0.1. Run: /usr/bin/python3 tools/optimizer_reference.py"""
import torch

GRADS = [[0.5, -1.0, 2.0], [0.25, 0.75, -1.5], [-0.125, 0.5, 1.0]]
LRS = [0.1, 0.05, 0.02]


def run(make):
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5], dtype=torch.float32))
    opt = make([p])
    for g, lr in zip(GRADS, LRS):
        for group in opt.param_groups:
            group["lr"] = lr
        p.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
    return [float(x) for x in p.detach()]


print("sgd", run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1)))
print("adam", run(lambda ps: torch.optim.Adam(ps, lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)))
print("adamw", run(lambda ps: torch.optim.AdamW(ps, lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)))
p = torch.nn.Parameter(torch.zeros(2))
q = torch.nn.Parameter(torch.zeros(1))
p.grad = torch.tensor([3.0, 4.0])
q.grad = torch.tensor([12.0])
n = torch.nn.utils.clip_grad_norm_([p, q], max_norm=6.5)
print("clip", float(n), [float(x) for x in p.grad], [float(x) for x in q.grad])
