#!/usr/bin/env python3
"""Regenerates the PyTorch parity fixtures replayed by tests/parity.rs.

For each configuration below: write the spec (with its optim line), let
depthlab dump its initial weights and a batch (`stats --dump`), build the
same net in PyTorch (float32), run STEPS optimizer steps on that one batch
with torch.optim (single-tensor implementation, foreach=False) using param
groups that mirror depthlab's weight-decay rules, and save
fixtures/<name>.safetensors with:

  init.<param>   the dumped initial parameters (W1, b1, prelu1, srelu2, ...)
  x, y           the batch (y as f32: class indices for cross_entropy)
  losses         (STEPS,) the batch loss of each step, before its update
  final.<param>  the parameters after the last step
  metadata       spec, covers (the configuration's tags, also derived from
                 the spec by the Rust test), steps, torch (version)

Usage (from anywhere; needs torch, safetensors, numpy):

  python tests/parity/make.py                     # builds depthlab with cargo
  DEPTHLAB=/path/to/depthlab python tests/parity/make.py

It also prints, per configuration, how far torch's foreach implementation
and a float64 replay are from the saved float32 single-tensor result: the
size of PyTorch's own rounding noise, to read the Rust test's differences
against.
"""

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file

STEPS = 5
HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FIXTURES = HERE / "fixtures"

# name, input size, layers, loss, optimizer, batch, seed. A layer is
# (units, activation as written in a spec, extra dense keys).
CONFIGS = [
    dict(
        name="sgd_plain",
        input=5,
        layers=[(6, "tanh", {}), (5, "sigmoid", {}), (3, "", {})],
        loss="cross_entropy",
        optim=("sgd", dict(lr=0.5)),
        batch=8,
        seed=1,
    ),
    dict(
        name="sgd_momentum",
        input=6,
        layers=[(7, "relu", {}), (5, "leaky_relu(a=0.1)", {}), (2, "", {})],
        loss="mse",
        optim=("sgd", dict(lr=0.1, momentum=0.9)),
        batch=8,
        seed=2,
    ),
    dict(
        name="sgd_dampening",
        input=4,
        layers=[(6, "softsign", {}), (5, "elu(a=0.7)", {}), (3, "", {})],
        loss="bce",
        optim=("sgd", dict(lr=0.3, momentum=0.8, dampening=0.3)),
        batch=8,
        seed=3,
    ),
    dict(
        name="sgd_nesterov",
        input=7,
        layers=[(8, "gelu", {}), (6, "silu", {}), (4, "", {})],
        loss="cross_entropy",
        optim=("sgd", dict(lr=0.2, momentum=0.9, nesterov=True)),
        batch=8,
        seed=4,
    ),
    dict(
        name="sgd_weight_decay",
        input=5,
        layers=[(6, "softplus", {}), (6, "selu", {}), (2, "", {})],
        loss="mse",
        optim=("sgd", dict(lr=0.1, weight_decay=0.05)),
        batch=8,
        seed=5,
    ),
    dict(
        # PReLU/SReLU parameters under weight decay: they must not decay.
        name="sgd_weight_decay_momentum_act_params",
        input=6,
        layers=[
            (6, "prelu", {}),
            (5, "srelu(tl=-0.2,al=0.1,tr=0.5,ar=0.7)", {}),
            (3, "", {}),
        ],
        loss="cross_entropy",
        optim=("sgd", dict(lr=0.2, momentum=0.9, weight_decay=0.1)),
        batch=8,
        seed=6,
    ),
    dict(
        name="sgd_decay_bias_false",
        input=5,
        layers=[(6, "tanh", {}), (4, "relu", {}), (2, "", {})],
        loss="bce",
        optim=("sgd", dict(lr=0.3, momentum=0.5, weight_decay=0.1, decay_bias=False)),
        batch=8,
        seed=7,
    ),
    dict(
        name="sgd_layer_weight_decay",
        input=6,
        layers=[
            (6, "elu", {"weight_decay": 0.3}),
            (5, "sigmoid", {"weight_decay": 0.0}),
            (3, "", {}),
        ],
        loss="cross_entropy",
        optim=("sgd", dict(lr=0.3, momentum=0.9, weight_decay=0.02)),
        batch=8,
        seed=8,
    ),
    dict(
        name="sgd_maximize",
        input=4,
        layers=[(5, "silu", {}), (3, "softsign", {}), (2, "", {})],
        loss="mse",
        optim=("sgd", dict(lr=0.05, momentum=0.9, weight_decay=0.01, maximize=True)),
        batch=8,
        seed=9,
    ),
    dict(
        name="adam",
        input=6,
        layers=[(7, "relu", {}), (6, "gelu", {}), (3, "", {})],
        loss="cross_entropy",
        optim=("adam", dict(lr=0.03)),
        batch=8,
        seed=10,
    ),
    dict(
        name="adam_weight_decay",
        input=5,
        layers=[(6, "tanh", {}), (4, "softplus", {}), (2, "", {})],
        loss="mse",
        optim=("adam", dict(lr=0.02, weight_decay=0.1)),
        batch=8,
        seed=11,
    ),
    dict(
        name="adam_amsgrad",
        input=6,
        layers=[(5, "selu", {}), (5, "leaky_relu", {}), (3, "", {})],
        loss="bce",
        optim=("adam", dict(lr=0.05, beta1=0.8, beta2=0.99, eps=1e-6, amsgrad=True)),
        batch=8,
        seed=12,
    ),
    dict(
        # Decoupled decay on W and b, none on the PReLU/SReLU parameters.
        name="adamw_act_params",
        input=6,
        layers=[(6, "prelu(init=0.1)", {}), (5, "srelu", {}), (3, "", {})],
        loss="cross_entropy",
        optim=("adamw", dict(lr=0.03, weight_decay=0.1)),
        batch=8,
        seed=13,
    ),
    dict(
        name="adamw_amsgrad_maximize_decay_bias_false",
        input=5,
        layers=[(6, "sigmoid", {}), (4, "identity", {}), (3, "", {})],
        loss="mse",
        optim=(
            "adamw",
            dict(lr=0.02, weight_decay=0.05, amsgrad=True, maximize=True, decay_bias=False),
        ),
        batch=8,
        seed=14,
    ),
    dict(
        # `act_decay=` does decay the PReLU/SReLU parameters.
        name="adam_act_decay",
        input=4,
        layers=[
            (5, "prelu", {"act_decay": 0.2}),
            (4, "srelu(tl=-0.5,al=0.3,tr=0.3,ar=0.6)", {"act_decay": 0.1}),
            (2, "", {}),
        ],
        loss="bce",
        optim=("adam", dict(lr=0.02, weight_decay=0.01)),
        batch=8,
        seed=15,
    ),
]

# torch.optim's (and depthlab's) defaults.
DEFAULTS = {
    "sgd": dict(lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0),
    "adam": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False),
    "adamw": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2, amsgrad=False),
}


def optim_settings(cfg):
    kind, given = cfg["optim"]
    o = dict(DEFAULTS[kind], maximize=False, decay_bias=True)
    o.update(given)
    return kind, o


def act_name(act):
    """Bare activation name; the last layer without one is linear."""
    return act.split("(")[0] if act else "identity"


def fmt(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v)


def spec_text(cfg):
    kind, given = cfg["optim"]
    parts = [f"input {cfg['input']}"]
    for units, act, keys in cfg["layers"]:
        line = f"dense {units}" + (f" {act}" if act else "")
        line += "".join(f" {k}={fmt(v)}" for k, v in keys.items())
        parts.append(line)
    parts.append(f"loss {cfg['loss']}")
    parts.append(f"optim {kind}" + "".join(f" {k}={fmt(v)}" for k, v in given.items()))
    parts.append(f"train batch={cfg['batch']} seed={cfg['seed']}")
    return "; ".join(parts)


def covers(cfg):
    """The configuration's tags; tests/parity.rs derives the same from the spec."""
    kind, o = optim_settings(cfg)
    tags = set()
    decays = [keys.get("weight_decay", o["weight_decay"]) for _, _, keys in cfg["layers"]]
    any_decay = any(d != 0 for d in decays)
    if kind == "sgd":
        tags.add("sgd")
        if o["momentum"] == 0 and not any_decay and not o["maximize"]:
            tags.add("sgd_plain")
        if o["momentum"] != 0:
            tags.add("sgd_momentum")
        if o["dampening"] != 0:
            tags.add("sgd_dampening")
        if o["nesterov"]:
            tags.add("sgd_nesterov")
        if any_decay:
            tags.add("sgd_weight_decay")
            if o["momentum"] != 0:
                tags.add("sgd_weight_decay_momentum")
    else:
        tags.add(kind)
        if any_decay:
            tags.add(f"{kind}_weight_decay")
        if o["amsgrad"]:
            tags.add(f"{kind}_amsgrad")
    if o["maximize"]:
        tags.add("maximize")
    if any_decay and not o["decay_bias"]:
        tags.add("decay_bias_false")
    for (_, act, keys), decay in zip(cfg["layers"], decays):
        name = act_name(act)
        tags.add(f"act:{name}")
        if "weight_decay" in keys:
            tags.add("layer_weight_decay")
        if name in ("prelu", "srelu"):
            if "act_decay" in keys:
                tags.add("act_decay")
            elif decay != 0:
                tags.add("act_params_under_decay")
    tags.add(f"loss:{cfg['loss']}")
    return sorted(tags)


def depthlab_command():
    exe = os.environ.get("DEPTHLAB")
    if exe:
        return [exe]
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return [str(target / "release" / "depthlab")]


def dump(cmd, spec, batch):
    """depthlab's initial weights (with metadata) and its probe batch."""
    tmp = Path(tempfile.mkdtemp(prefix="depthlab-parity-"))
    try:
        subprocess.run(
            cmd + ["stats", "--net", spec, "--probe", str(batch), "--dump", str(tmp)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        weights = load_file(tmp / "weights.safetensors")
        with safe_open(tmp / "weights.safetensors", "pt") as f:
            meta = f.metadata()
        probe = load_file(tmp / "probe.safetensors")
    finally:
        shutil.rmtree(tmp)
    return weights, meta, probe


def parse_act(text):
    """`leaky_relu(a=0.1)` -> ("leaky_relu", {"a": 0.1})."""
    m = re.fullmatch(r"(\w+)(?:\((.*)\))?", text)
    args = {}
    if m.group(2):
        for kv in m.group(2).split(","):
            k, v = kv.split("=")
            args[k.strip()] = float(v)
    return m.group(1), args


def activation(name, args, s, p):
    if name == "identity":
        return s
    if name == "sigmoid":
        return torch.sigmoid(s)
    if name == "tanh":
        return torch.tanh(s)
    if name == "softsign":
        return F.softsign(s)
    if name == "relu":
        return F.relu(s)
    if name == "leaky_relu":
        return F.leaky_relu(s, negative_slope=args["a"])
    if name == "prelu":
        return F.prelu(s, p)  # one slope per unit, as nn.PReLU(units)
    if name == "elu":
        return F.elu(s, alpha=args["a"])
    if name == "selu":
        return F.selu(s)
    if name == "srelu":
        tl, al, tr, ar = p[0], p[1], p[2], p[3]
        return torch.where(
            s >= tr, tr + ar * (s - tr), torch.where(s <= tl, tl + al * (s - tl), s)
        )
    if name == "softplus":
        return F.softplus(s)  # beta=1, threshold=20
    if name == "gelu":
        return F.gelu(s)  # erf form
    if name == "silu":
        return F.silu(s)
    raise ValueError(f"unknown activation {name}")


def train(cfg, weights, meta, probe, dtype, foreach):
    """STEPS steps of torch.optim on the batch: (losses, final parameters)."""
    kind, o = optim_settings(cfg)
    acts = [parse_act(a) for a in json.loads(meta["activations"])]
    assert meta["loss"] == cfg["loss"], meta
    assert [a[0] for a in acts] == [act_name(a) for _, a, _ in cfg["layers"]], acts
    params = {k: v.to(dtype).clone().requires_grad_(True) for k, v in weights.items()}
    x = probe["x"].to(dtype)
    y = probe["y"] if cfg["loss"] == "cross_entropy" else probe["y"].to(dtype)

    # depthlab's decay rules: the layer's weight_decay= or the optimizer's
    # on W, on b unless decay_bias=false, on PReLU/SReLU only with act_decay=.
    groups = []
    for l, (_, act, keys) in enumerate(cfg["layers"], start=1):
        wd = keys.get("weight_decay", o["weight_decay"])
        groups.append(dict(params=[params[f"W{l}"]], weight_decay=wd))
        groups.append(dict(params=[params[f"b{l}"]], weight_decay=wd if o["decay_bias"] else 0.0))
        name = act_name(act)
        if name in ("prelu", "srelu"):
            groups.append(
                dict(params=[params[f"{name}{l}"]], weight_decay=keys.get("act_decay", 0.0))
            )
    assert sum(len(g["params"]) for g in groups) == len(params)
    if kind == "sgd":
        opt = torch.optim.SGD(
            groups,
            lr=o["lr"],
            momentum=o["momentum"],
            dampening=o["dampening"],
            nesterov=o["nesterov"],
            maximize=o["maximize"],
            foreach=foreach,
        )
    else:
        cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
        opt = cls(
            groups,
            lr=o["lr"],
            betas=(o["beta1"], o["beta2"]),
            eps=o["eps"],
            amsgrad=o["amsgrad"],
            maximize=o["maximize"],
            foreach=foreach,
        )

    def forward():
        a = x
        for l, (name, args) in enumerate(acts, start=1):
            s = F.linear(a, params[f"W{l}"], params[f"b{l}"])
            a = activation(name, args, s, params.get(f"{name}{l}"))
        if cfg["loss"] == "mse":
            return F.mse_loss(a, y)
        if cfg["loss"] == "cross_entropy":
            return F.cross_entropy(a, y)
        return F.binary_cross_entropy_with_logits(a, y)

    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = forward()
        loss.backward()
        losses.append(loss.item())
        opt.step()
    return losses, {k: v.detach() for k, v in params.items()}


def save(path, tensors, metadata):
    """A safetensors file of f32 tensors, byte for byte the same on every run
    (safetensors' save_file orders the metadata at random): header keys
    sorted, data in name order."""
    header = {"__metadata__": dict(sorted(metadata.items()))}
    data = b""
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous()
        raw = t.numpy().astype("<f4").tobytes()
        offsets = [len(data), len(data) + len(raw)]
        header[name] = dict(dtype="F32", shape=list(t.shape), data_offsets=offsets)
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    back = load_file(path)
    assert back.keys() == tensors.keys()
    assert all(torch.equal(back[k], tensors[k].to(torch.float32)) for k in back)


def excess(a, b):
    """max over elements of |a - b| / max(1e-5 |b|, 1e-6): above 1 fails the
    Rust test's tolerance (1e-5 relative or 1e-6 absolute)."""
    a, b = a.double(), b.double()
    return ((a - b).abs() / (1e-5 * b.abs()).clamp_min(1e-6)).max().item()


def main():
    torch.set_num_threads(1)
    cmd = depthlab_command()
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for old in FIXTURES.glob("*.safetensors"):
        old.unlink()
    names = set()
    print(f"torch {torch.__version__}")
    print(f"{'configuration':42} {'moved':>8} {'foreach/tol':>11} {'f64/tol':>9}")
    for cfg in CONFIGS:
        assert cfg["name"] not in names
        names.add(cfg["name"])
        spec = spec_text(cfg)
        weights, meta, probe = dump(cmd, spec, cfg["batch"])
        losses, final = train(cfg, weights, meta, probe, torch.float32, foreach=False)
        # Cross-checks, printed only: torch's foreach implementation, and the
        # float64 replay (the f32 rounding noise of the same computation).
        _, final_fe = train(cfg, weights, meta, probe, torch.float32, foreach=True)
        _, final64 = train(cfg, weights, meta, probe, torch.float64, foreach=False)
        moved = max((final[k] - weights[k]).abs().max().item() for k in final)
        d_fe = max(excess(final_fe[k], final[k]) for k in final)
        d64 = max(excess(final[k], final64[k]) for k in final)
        print(f"{cfg['name']:42} {moved:8.3g} {d_fe:11.3g} {d64:9.3g}")

        tensors = {f"init.{k}": v for k, v in weights.items()}
        tensors |= {f"final.{k}": v for k, v in final.items()}
        tensors["x"] = probe["x"]
        tensors["y"] = probe["y"].to(torch.float32)
        tensors["losses"] = torch.tensor(losses, dtype=torch.float32)
        metadata = {
            "spec": spec,
            "covers": ",".join(covers(cfg)),
            "steps": str(STEPS),
            "torch": torch.__version__,
        }
        save(FIXTURES / f"{cfg['name']}.safetensors", tensors, metadata)
    print(f"{len(CONFIGS)} fixtures in {FIXTURES}")


if __name__ == "__main__":
    sys.exit(main())
