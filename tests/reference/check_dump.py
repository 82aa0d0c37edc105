#!/usr/bin/env python3
"""Independent NumPy reference for depthlab's forward and backward passes.

Usage:
    depthlab stats SPEC --dump DIR        (or: depthlab stats --net "..." --dump DIR)
    python3 tests/reference/check_dump.py DIR

DIR holds the weights.safetensors, probe.safetensors and grads.safetensors
that `--dump` writes. This script reads them with its own safetensors
parser, recomputes the forward pass, the loss and the backward pass in
float64 following PyTorch's conventions, then compares every dumped tensor
(loss, a{l}, delta{l}, dW{l}, db{l}, dprelu{l}, dsrelu{l}) with the
reference. The error of a tensor is max|ref - dump| / max|ref|; it must stay
below 1e-4. Exits with status 1 if any tensor fails (2 on usage errors).
Needs only NumPy and the standard library.
"""
import json
import math
import os
import re
import struct
import sys

import numpy as np

RTOL = 1e-4
TINY = 1e-30  # keeps the relative error finite when the reference is all zeros
SELU_LAMBDA = 1.0507009873554805
SELU_ALPHA = 1.6732632423543772
DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I32": "<i4"}


def load_safetensors(path):
    """Returns ({name: array}, metadata). Layout: u64 LE header length N,
    N bytes of JSON header, then the raw data (offsets relative to it)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    meta = header.pop("__metadata__", None) or {}
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        arr = np.frombuffer(data[begin:end], dtype=DTYPES[info["dtype"]])
        tensors[name] = arr.reshape(info["shape"])
    return tensors, meta


def parse_act(text):
    """'elu(a=0.7)' -> ('elu', {'a': 0.7}); 'tanh' -> ('tanh', {})."""
    m = re.fullmatch(r"\s*(\w+)\s*(?:\((.*)\))?\s*", text)
    name, args = m.group(1), m.group(2) or ""
    kw = {}
    for part in filter(None, (p.strip() for p in args.split(","))):
        key, value = part.split("=")
        kw[key.strip()] = float(value)
    return name, kw


def sigmoid(x):
    # σ(x) = 1 / (1 + e^-x), written so that no exp overflows
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


erf = np.vectorize(math.erf, otypes=[np.float64])


def activation(name, kw, s, p):
    """Returns (f(s), f'(s), param_grad) where param_grad(g) maps g = dL/da
    to dL/dparams (None for activations without parameters). `p` holds the
    layer's dumped parameters (prelu slopes or the srelu 4 x units rows)."""
    if name == "identity":
        return s, np.ones_like(s), None
    if name == "sigmoid":
        # σ' = σ (1 - σ)
        y = sigmoid(s)
        return y, y * (1 - y), None
    if name == "tanh":
        # tanh' = 1 - tanh²
        y = np.tanh(s)
        return y, 1 - y * y, None
    if name == "softsign":
        # x / (1 + |x|), derivative 1 / (1 + |x|)²
        d = 1 + np.abs(s)
        return s / d, 1 / (d * d), None
    if name == "relu":
        # max(0, x); relu'(0) = 0 as in PyTorch
        return np.maximum(s, 0), (s > 0).astype(np.float64), None
    if name == "leaky_relu":
        # x if x > 0 else a x; derivative a at x <= 0 (PyTorch)
        a = kw["a"]
        return np.where(s > 0, s, a * s), np.where(s > 0, 1.0, a), None
    if name == "elu":
        # x if x > 0 else a (e^x - 1); derivative a e^x at x <= 0
        a = kw["a"]
        em1 = np.expm1(np.minimum(s, 0))
        return np.where(s > 0, s, a * em1), np.where(s > 0, 1.0, a * (em1 + 1)), None
    if name == "selu":
        # λ · elu_α(x); derivative λ if x > 0 else λ α e^x
        em1 = np.expm1(np.minimum(s, 0))
        y = SELU_LAMBDA * np.where(s > 0, s, SELU_ALPHA * em1)
        return y, SELU_LAMBDA * np.where(s > 0, 1.0, SELU_ALPHA * (em1 + 1)), None
    if name == "softplus":
        # ln(1 + e^x), = x when x > 20 (PyTorch threshold); derivative σ(x)
        y = np.where(s > 20, s, np.log1p(np.exp(np.minimum(s, 20))))
        return y, np.where(s > 20, 1.0, sigmoid(s)), None
    if name == "gelu":
        # x Φ(x) with Φ(x) = (1 + erf(x/√2)) / 2; derivative Φ(x) + x φ(x)
        cdf = 0.5 * (1 + erf(s / math.sqrt(2)))
        pdf = np.exp(-0.5 * s * s) / math.sqrt(2 * math.pi)
        return s * cdf, cdf + s * pdf, None
    if name == "silu":
        # x σ(x); derivative σ(x) (1 + x (1 - σ(x)))
        sg = sigmoid(s)
        return s * sg, sg * (1 + s * (1 - sg)), None
    if name == "prelu":
        # x if x > 0 else slope_j x; d/dslope_j = x for x <= 0, summed over rows
        slope = p.astype(np.float64)
        neg = s <= 0
        y = np.where(neg, slope * s, s)
        return y, np.where(neg, slope, 1.0), lambda g: (g * np.where(neg, s, 0)).sum(0)
    if name == "srelu":
        # t_r + a_r (x - t_r) if x >= t_r; t_l + a_l (x - t_l) if x <= t_l; x between
        tl, al, tr, ar = p.astype(np.float64)
        right = s >= tr
        left = ~right & (s <= tl)
        y = np.where(right, tr + ar * (s - tr), np.where(left, tl + al * (s - tl), s))
        dy = np.where(right, ar, np.where(left, al, 1.0))

        def grad(g):
            # rows d/dt_l = 1 - a_l, d/da_l = x - t_l (left piece);
            #      d/dt_r = 1 - a_r, d/da_r = x - t_r (right piece)
            return np.stack([
                (g * np.where(left, 1 - al, 0)).sum(0),
                (g * np.where(left, s - tl, 0)).sum(0),
                (g * np.where(right, 1 - ar, 0)).sum(0),
                (g * np.where(right, s - tr, 0)).sum(0),
            ])
        return y, dy, grad
    raise SystemExit(f"unknown activation {name!r}")


def loss_and_grad(kind, z, y):
    """Batch-mean loss of the network output z and dL/dz (PyTorch defaults)."""
    if kind == "mse":
        # mean over all elements of (z - y)²; gradient 2 (z - y) / numel
        d = z - y
        return np.mean(d * d), 2 * d / d.size
    if kind == "cross_entropy":
        # mean over rows of logsumexp(z) - z[y]; gradient (softmax - onehot) / batch
        m = z.max(1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(z - m).sum(1))
        rows = np.arange(len(y))
        grad = np.exp(z - lse[:, None])
        grad[rows, y] -= 1
        return np.mean(lse - z[rows, y]), grad / len(y)
    if kind == "bce":
        # BCEWithLogits, mean over elements: max(z,0) - z y + log1p(e^-|z|);
        # gradient (σ(z) - y) / numel
        loss = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
        return loss.mean(), (sigmoid(z) - y) / z.size
    raise SystemExit(f"unknown loss {kind!r}")


def reference(weights, meta, x, y):
    """Forward and backward in float64; returns {tensor name: reference}."""
    acts = [parse_act(a) for a in json.loads(meta["activations"])]
    ref = {}
    a = x.astype(np.float64)  # a_0 = x
    inputs, cache = [], []
    for l, (name, kw) in enumerate(acts, start=1):
        W = weights[f"W{l}"].astype(np.float64)
        s = a @ W.T + weights[f"b{l}"]  # s_l = a_{l-1} W_l^T + b_l
        p = weights.get(f"{name}{l}")  # prelu{l} / srelu{l}, if any
        inputs.append(a)
        a, da, pgrad = activation(name, kw, s, p)  # a_l = f_l(s_l)
        cache.append((W, da, pgrad, name))
        ref[f"a{l}"] = a
    ref["loss"], g = loss_and_grad(meta["loss"], a, y)  # g = dL/da_L
    for l in range(len(acts), 0, -1):
        W, da, pgrad, name = cache[l - 1]
        delta = g * da  # δ_l = dL/da_l ⊙ f'_l(s_l)
        ref[f"delta{l}"] = delta
        ref[f"dW{l}"] = delta.T @ inputs[l - 1]  # dW_l = δ_l^T a_{l-1}
        ref[f"db{l}"] = delta.sum(0)  # db_l = Σ_rows δ_l
        if pgrad is not None:
            ref[f"d{name}{l}"] = pgrad(g)
        g = delta @ W  # dL/da_{l-1} = δ_l W_l
    return ref


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    d = sys.argv[1]
    weights, meta = load_safetensors(os.path.join(d, "weights.safetensors"))
    probe, _ = load_safetensors(os.path.join(d, "probe.safetensors"))
    grads, _ = load_safetensors(os.path.join(d, "grads.safetensors"))
    y = probe["y"] if meta["loss"] == "cross_entropy" else probe["y"].astype(np.float64)
    ref = reference(weights, meta, probe["x"], y)
    failed = False
    # every dumped gradient tensor must have a reference, and vice versa
    for name in sorted(set(ref) | set(grads), key=lambda n: (re.sub(r"\d+", "", n), int("0" + re.sub(r"\D", "", n)))):
        if name not in ref or name not in grads:
            print(f"NOT OK {name:8s} missing from the {'dump' if name in ref else 'reference'}")
            failed = True
            continue
        r = np.asarray(ref[name], dtype=np.float64).reshape(-1)
        got = np.asarray(grads[name], dtype=np.float64).reshape(-1)
        if r.shape != got.shape:
            print(f"NOT OK {name:8s} shape {got.shape} != reference {r.shape}")
            failed = True
            continue
        err = np.max(np.abs(r - got)) / max(np.max(np.abs(r)), TINY)
        ok = err <= RTOL  # NaN fails too
        failed |= not ok
        print(f"{'OK    ' if ok else 'NOT OK'} {name:8s} max rel diff {err:.1e}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
