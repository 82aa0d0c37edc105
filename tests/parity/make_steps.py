#!/usr/bin/env python3
"""Regenerates the optimizer-step fixtures replayed by tests/optimizer_bits.rs.

For each configuration below: a float32 parameter of N values (9 vectors of
16 and a tail of 3), THREE gradients, and what torch.optim's single-tensor
step (foreach=False) made of them on this CPU: the parameter and the
optimizer state after each step. Saved as steps/<name>.safetensors with

  theta0          (N,) the parameter before the first step
  grad            (STEPS, N) the gradient given to each step
  theta           (STEPS, N) the parameter after each step
  buf | m, v, vmax  (STEPS, N) the state after each step
  metadata        optimizer, its hyper-parameters (JSON), torch version,
                  CPU capability

The Rust test runs depthlab's update kernels on the same inputs and
compares bits: these are the fixtures that pin depthlab's rounding to
PyTorch's, where tests/parity.rs (whole nets, whose products sum in a
different order) can only use a tolerance.

Usage (needs torch and safetensors, outside the repo's build):

  python tests/parity/make_steps.py
"""

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

N = 16 * 9 + 3
STEPS = 3
OUT = Path(__file__).resolve().parent / "steps"

# name, optimizer, hyper-parameters (torch.optim's names).
CONFIGS = [
    ("sgd", "sgd", dict(lr=0.1)),
    ("sgd_weight_decay", "sgd", dict(lr=0.1, weight_decay=0.05)),
    ("sgd_momentum_weight_decay", "sgd", dict(lr=0.1, momentum=0.9, weight_decay=0.05)),
    ("sgd_dampening", "sgd", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("sgd_nesterov", "sgd", dict(lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.01)),
    ("sgd_maximize", "sgd", dict(lr=0.1, momentum=0.9, weight_decay=0.05, maximize=True)),
    ("adam", "adam", dict(lr=0.01)),
    ("adam_weight_decay", "adam", dict(lr=0.01, weight_decay=0.05)),
    ("adam_beta1_low", "adam", dict(lr=0.01, betas=(0.3, 0.99), weight_decay=0.05)),
    ("adam_amsgrad_maximize", "adam", dict(lr=0.01, amsgrad=True, maximize=True, weight_decay=0.01)),
    ("adamw", "adamw", dict(lr=0.01, weight_decay=0.1)),
    ("adamw_amsgrad", "adamw", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
]

OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def run(name, kind, hyper, seed):
    gen = torch.Generator().manual_seed(seed)
    theta0 = torch.randn(N, generator=gen)
    grads = torch.randn(STEPS, N, generator=gen)
    p = theta0.clone().requires_grad_()
    opt = OPTIMIZERS[kind]([p], foreach=False, **hyper)
    names = ["buf"] if kind == "sgd" else ["m", "v"] + (["vmax"] if hyper.get("amsgrad") else [])
    torch_names = {"buf": "momentum_buffer", "m": "exp_avg", "v": "exp_avg_sq", "vmax": "max_exp_avg_sq"}
    thetas, states = [], {n: [] for n in names}
    for g in grads:
        p.grad = g.clone()
        opt.step()
        thetas.append(p.detach().clone())
        for n in names:
            s = opt.state[p].get(torch_names[n])
            states[n].append(torch.zeros(N) if s is None else s.detach().clone())
    tensors = {"theta0": theta0, "grad": grads, "theta": torch.stack(thetas)}
    tensors.update({n: torch.stack(v) for n, v in states.items()})
    metadata = {
        "optimizer": kind,
        "hyper": json.dumps(hyper),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    save_file({k: v.contiguous() for k, v in tensors.items()}, OUT / f"{name}.safetensors", metadata)


def main():
    OUT.mkdir(exist_ok=True)
    for seed, (name, kind, hyper) in enumerate(CONFIGS, 1):
        run(name, kind, hyper, seed)
        print(f"{name}: {kind} {hyper}")


if __name__ == "__main__":
    main()
