#!/usr/bin/env python3
"""Compare one training step of depthlab against JAX (jit) and PyTorch (eager).

Run by hand, never by tests, from the repository root, pinned to one core:

    taskset -c 1 ~/venv/bin/python bench/peers/peers.py   # a virtualenv with jax[cpu]

Four MLP configs, softmax cross-entropy, SGD lr=0.01 momentum=0.9
weight_decay=1e-4 coupled as in torch.optim.SGD (g += wd*w; buf = 0.9*buf + g;
w -= lr*buf; decay on every parameter, biases included). Rounds are
interleaved: for each round, for each config, `depthlab bench --threads 1`
(subprocess), then JAX one jitted step a call, then JAX with --scan steps in
one jitted call (lax.scan: the same step without per-call Python dispatch),
then torch if importable. Medians over rounds are reported. FLOPs per step are 6 * batch * sum(in * out) over all layers, the
convention `depthlab bench` uses; % of peak divides by the single-thread FMA
peak that depthlab measures at the start of its own run in the same round.
"""

import argparse
import os
import platform
import re
import shlex
import statistics
import struct
import subprocess
import sys
import tempfile
import time

# One thread for XLA: must be set before jax is imported. (XLA reads only the
# `--xla_...` token; the bare `intra_op_parallelism_threads=1` is ignored by
# it. What really holds everything to one core is `taskset -c 1`.)
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

LR, MOMENTUM, WD = 0.01, 0.9, 1e-4
N_OUT = 10

# name, input dim, hidden layers, hidden width, activation, batch
CONFIGS = [
    ("A tiny-deep", 32, 20, 32, "tanh", 16),
    ("B", 784, 10, 256, "sigmoid", 128),
    ("C", 1024, 4, 1024, "relu", 256),
    ("D very-deep", 64, 50, 128, "relu", 64),
]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def layer_dims(cfg):
    _, d_in, depth, width, _, _ = cfg
    dims = [d_in] + [width] * depth + [N_OUT]
    return list(zip(dims[:-1], dims[1:]))


def flops_per_step(cfg):
    return 6 * cfg[5] * sum(i * o for i, o in layer_dims(cfg))


def spec(cfg):
    _, d_in, depth, width, act, batch = cfg
    return (
        f"input {d_in}; dense {width} {act} x{depth}; dense {N_OUT}; "
        f"optim sgd lr={LR} momentum={MOMENTUM} weight_decay={WD:g}; "
        f"data gaussian n=1024 test=0; train batch={batch} seed=1"
    )


def summary(cfg):
    _, d_in, depth, width, act, batch = cfg
    return f"{d_in}→{depth}×{width} {act}→{N_OUT}, b{batch}"


# --------------------------------------------------------------------------
# depthlab

STEP_RE = re.compile(r"^step: median ([0-9.]+) µs")
PEAK_RE = re.compile(
    r"^([0-9.]+) % of the FMA peak of 1 thread \(([0-9.]+) GFLOP/s a thread"
)


def depthlab_cmd(binary, cfg, steps):
    return [binary, "bench", "--net", spec(cfg), "--threads", "1", "--steps", str(steps)]


def run_depthlab(binary, cfg, steps):
    """Returns (median µs, % of peak, peak GFLOP/s) from `depthlab bench`."""
    out = subprocess.run(
        depthlab_cmd(binary, cfg, steps), capture_output=True, text=True, check=True
    ).stdout.splitlines()
    m1, m2 = STEP_RE.match(out[1]), PEAK_RE.match(out[2])
    if not (m1 and m2):
        raise RuntimeError("cannot parse depthlab bench output:\n" + "\n".join(out[:4]))
    return float(m1.group(1)), float(m2.group(1)), float(m2.group(2))


# --------------------------------------------------------------------------
# data and initial weights (shared by JAX and torch)


def make_problem(cfg, seed=0):
    rng = np.random.default_rng(seed)
    batch = cfg[5]
    ws, bs = [], []
    for fan_in, fan_out in layer_dims(cfg):
        ws.append((rng.standard_normal((fan_out, fan_in)) / np.sqrt(fan_in)).astype(np.float32))
        bs.append(np.zeros(fan_out, np.float32))
    x = rng.standard_normal((batch, cfg[1])).astype(np.float32)
    y = rng.integers(0, N_OUT, batch).astype(np.int32)
    return ws, bs, x, y


def time_steps(step_once, sync, warmup, steps):
    """Median µs of `steps` individually timed steps, after `warmup` steps."""
    for _ in range(warmup):
        sync(step_once())
    ts = []
    for _ in range(steps):
        t0 = time.perf_counter_ns()
        sync(step_once())
        ts.append(time.perf_counter_ns() - t0)
    return statistics.median(ts) / 1e3


# --------------------------------------------------------------------------
# JAX


def make_jax_step(act):
    import jax
    import jax.numpy as jnp

    f = {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu}[act]

    def loss_fn(params, x, y):
        h = x
        n = len(params)
        for i, (w, b) in enumerate(params):
            h = h @ w.T + b
            if i < n - 1:
                h = f(h)
        logp = jax.nn.log_softmax(h, axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    def step(params, bufs, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        new_p, new_b = [], []
        for (w, b), (bw, bb), (gw, gb) in zip(params, bufs, grads):
            gw = gw + WD * w
            gb = gb + WD * b
            bw = MOMENTUM * bw + gw
            bb = MOMENTUM * bb + gb
            new_p.append((w - LR * bw, b - LR * bb))
            new_b.append((bw, bb))
        return new_p, new_b, loss

    return jax.jit(step, donate_argnums=(0, 1)), step


class JaxRunner:
    def __init__(self, cfg, warmup, steps, scan):
        import jax
        import jax.numpy as jnp

        self.jax = jax
        self.warmup, self.steps, self.scan = warmup, steps, scan
        ws, bs, x, y = make_problem(cfg)
        self.step, raw = make_jax_step(cfg[4])
        self.params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in zip(ws, bs)]
        self.bufs = [(jnp.zeros_like(w), jnp.zeros_like(b)) for w, b in self.params]
        self.x, self.y = jnp.asarray(x), jnp.asarray(y)

        # The same step, `scan` of them in one jitted call: the step's compute
        # without the per-call Python dispatch.
        def body(carry, _):
            p, b, _ = raw(*carry, self.x, self.y)
            return (p, b), None

        def multi(p, b):
            return jax.lax.scan(body, (p, b), None, length=scan)[0]

        self.multi = jax.jit(multi, donate_argnums=(0, 1))

    def _once(self):
        self.params, self.bufs, _ = self.step(self.params, self.bufs, self.x, self.y)
        return self.params

    def _scan_once(self):
        self.params, self.bufs = self.multi(self.params, self.bufs)
        return self.params

    def time(self):
        """Median µs of one jitted step a call (as a training loop calls it)."""
        return time_steps(self._once, self.jax.block_until_ready, self.warmup, self.steps)

    def time_scan(self):
        """Median µs a step, `scan` steps a call, about `steps` steps in all."""
        calls = max(10, self.steps // self.scan)
        warm = max(2, self.warmup // self.scan)
        sync = self.jax.block_until_ready
        return time_steps(self._scan_once, sync, warm, calls) / self.scan


def check_jax_math():
    """One JAX step against a plain numpy forward/backward/SGD step."""
    import jax.numpy as jnp

    cfg = ("check", 12, 3, 16, "tanh", 8)
    acts = {
        "tanh": (np.tanh, lambda a: 1 - a * a),
        "sigmoid": (lambda s: 1 / (1 + np.exp(-s)), lambda a: a * (1 - a)),
        "relu": (lambda s: np.maximum(s, 0), lambda a: (a > 0).astype(np.float64)),
    }
    worst = 0.0
    for act in acts:
        cfg = cfg[:4] + (act,) + cfg[5:]
        ws, bs, x, y = make_problem(cfg, seed=3)
        # numpy reference in float64, momentum buffers start at 0.5 so the
        # momentum term is exercised too
        f, df = acts[act]
        hs = [x.astype(np.float64)]
        for i, (w, b) in enumerate(zip(ws, bs)):
            s = hs[-1] @ w.T + b
            hs.append(f(s) if i < len(ws) - 1 else s)
        z = hs[-1] - hs[-1].max(1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        ref_loss = -np.mean(np.log(p[np.arange(len(y)), y]))
        d = p.copy()
        d[np.arange(len(y)), y] -= 1
        d /= len(y)
        ref_w = [None] * len(ws)
        for i in reversed(range(len(ws))):
            gw, gb = d.T @ hs[i], d.sum(0)
            if i > 0:
                d = (d @ ws[i]) * df(hs[i])
            bw = 0.9 * 0.5 + gw + WD * ws[i]  # MOMENTUM * 0.5 + g
            ref_w[i] = ws[i] - LR * bw
        step, _ = make_jax_step(act)
        params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in zip(ws, bs)]
        bufs = [(jnp.full_like(w, 0.5), jnp.full_like(b, 0.5)) for w, b in params]
        new_p, _, loss = step(params, bufs, jnp.asarray(x), jnp.asarray(y))
        worst = max(worst, abs(float(loss) - ref_loss))
        for (w, _), r in zip(new_p, ref_w):
            worst = max(worst, float(np.max(np.abs(np.asarray(w) - r))))
    return worst


def read_safetensors(path):
    with open(path, "rb") as fh:
        raw = fh.read()
    n = struct.unpack("<Q", raw[:8])[0]
    import json

    out = {}
    for k, v in json.loads(raw[8 : 8 + n]).items():
        if k != "__metadata__":
            a, b = v["data_offsets"]
            out[k] = np.frombuffer(raw[8 + n + a : 8 + n + b], np.float32).reshape(v["shape"])
    return out


def check_against_depthlab(binary):
    """depthlab's own step 2 against the JAX step from depthlab's step-1 checkpoint.

    `depthlab train --steps 1/2 --save` on a 16-row CSV (one full batch, so
    the batch is the same rows each step) gives the weights and momentum
    buffers after steps 1 and 2; one JAX step from the first must land on the
    second. Returns [(act, depth, width, depthlab loss line, JAX loss, max |Δ|)].
    """
    import jax.numpy as jnp

    rng = np.random.default_rng(5)
    x = rng.standard_normal((16, 32)).astype(np.float32)
    y = rng.integers(0, N_OUT, 16).astype(np.int32)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "d.csv"), "w") as fh:
            fh.write(",".join([f"x{i}" for i in range(32)] + ["label"]) + "\n")
            for r, lab in zip(x, y):
                fh.write(",".join(repr(float(v)) for v in r) + f",{lab}\n")
        for act, depth, width in [("tanh", 20, 32), ("sigmoid", 10, 64), ("relu", 50, 48)]:
            net = (f"input 32; dense {width} {act} x{depth}; dense {N_OUT}; "
                   f"optim sgd lr={LR} momentum={MOMENTUM} weight_decay={WD:g}; "
                   f"data csv path=d.csv; train batch=16 seed=1")
            ck, log = {}, ""
            for s in (1, 2):
                path = os.path.join(tmp, f"{act}{s}.safetensors")
                o = subprocess.run([binary, "train", "--net", net, "--steps", str(s),
                                    "--save", path], capture_output=True, text=True, cwd=tmp)
                if o.returncode != 0:
                    raise RuntimeError(f"depthlab train failed:\n{o.stderr}")
                ck[s] = read_safetensors(path)
                log = [ln.strip() for ln in (o.stdout + o.stderr).splitlines()
                       if ln.startswith("step ") and "loss" in ln][-1:]
            n = depth + 1
            params = [(jnp.asarray(ck[1][f"W{i}"]), jnp.asarray(ck[1][f"b{i}"]))
                      for i in range(1, n + 1)]
            bufs = [(jnp.asarray(ck[1][f"W{i}.momentum_buffer"]),
                     jnp.asarray(ck[1][f"b{i}.momentum_buffer"])) for i in range(1, n + 1)]
            step, _ = make_jax_step(act)
            new_p, new_b, loss = step(params, bufs, jnp.asarray(x), jnp.asarray(y))
            worst = 0.0
            for i, ((w, b), (bw, bb)) in enumerate(zip(new_p, new_b), 1):
                for got, key in ((w, f"W{i}"), (b, f"b{i}"), (bw, f"W{i}.momentum_buffer"),
                                 (bb, f"b{i}.momentum_buffer")):
                    worst = max(worst, float(np.max(np.abs(np.asarray(got) - ck[2][key]))))
            rows.append((act, depth, width, log[0] if log else "?", float(loss), worst))
    return rows


# --------------------------------------------------------------------------
# PyTorch (optional)


class TorchRunner:
    def __init__(self, cfg, warmup, steps):
        import torch

        torch.set_num_threads(1)
        self.torch = torch
        self.warmup, self.steps = warmup, steps
        ws, bs, x, y = make_problem(cfg)
        layers = []
        for i, (w, b) in enumerate(zip(ws, bs)):
            lin = torch.nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(w))
                lin.bias.copy_(torch.from_numpy(b))
            layers.append(lin)
            if i < len(ws) - 1:
                layers.append(
                    {"tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU}[
                        cfg[4]
                    ]()
                )
        self.model = torch.nn.Sequential(*layers)
        self.opt = torch.optim.SGD(
            self.model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WD
        )
        self.loss = torch.nn.CrossEntropyLoss()
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))

    def _once(self):
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        return loss

    def time(self):
        return time_steps(self._once, lambda _: None, self.warmup, self.steps)


# --------------------------------------------------------------------------


def cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def command_line():
    cmd = shlex.join([sys.executable] + sys.argv)
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < (os.cpu_count() or 1):
        cmd = f"taskset -c {','.join(map(str, cpus))} " + cmd
    return cmd, cpus


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--depthlab", default=os.path.join(REPO, "target/release/depthlab"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=200, help="timed steps a round (each side)")
    ap.add_argument("--warmup", type=int, default=30, help="untimed steps a round (JAX, torch)")
    ap.add_argument("--scan", type=int, default=20,
                    help="steps a call in the JAX lax.scan column (no per-call dispatch)")
    ap.add_argument("--no-torch", action="store_true", help="skip torch even if importable")
    args = ap.parse_args()

    import jax
    import jaxlib

    try:
        if args.no_torch:
            raise ImportError
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch = None
        torch_version = "not importable" if not args.no_torch else "skipped (--no-torch)"

    cmd, cpus = command_line()
    print(f"command:  {cmd}")
    print(f"date:     {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"cpu:      {cpu_model()} ({os.cpu_count()} logical CPUs, pinned to {cpus})")
    print(f"python:   {platform.python_version()}, numpy {np.__version__}")
    print(f"jax:      {jax.__version__}, jaxlib {jaxlib.__version__}, "
          f"backend {jax.default_backend()}, XLA_FLAGS={os.environ['XLA_FLAGS']!r}")
    print(f"torch:    {torch_version}")
    ver = subprocess.run([args.depthlab, "--version"], capture_output=True, text=True)
    print(f"depthlab: {ver.stdout.strip()} ({args.depthlab})")
    if len(cpus) > 1:
        print("WARNING: not pinned to one core; run under `taskset -c 1` for one-thread numbers")
    print(f"rounds {args.rounds}, {args.steps} timed steps each side per round, "
          f"JAX/torch warm-up {args.warmup} steps; JAX-scan: {args.scan} steps a jitted "
          f"call (lax.scan), no per-step dispatch")
    print(f"JAX step vs numpy float64 reference, max abs diff (loss, updated W): "
          f"{check_jax_math():.2e}")
    print("depthlab's step 2 vs one JAX step from depthlab's step-1 checkpoint "
          "(weights + momentum buffers, 16-row CSV batch):")
    for act, depth, width, log, loss, worst in check_against_depthlab(args.depthlab):
        print(f"  {depth:2d}×{width} {act:<7}  depthlab `{log}`, JAX loss {loss:.6f}, "
              f"max |Δ| of W, b, buffers after the step {worst:.1e}")
    print("depthlab bench commands:")
    for cfg in CONFIGS:
        print(f"  {cfg[0]}: {shlex.join(depthlab_cmd(args.depthlab, cfg, args.steps))}")
    print(flush=True)

    jax_runners = {cfg[0]: JaxRunner(cfg, args.warmup, args.steps, args.scan) for cfg in CONFIGS}
    torch_runners = (
        {cfg[0]: TorchRunner(cfg, args.warmup, args.steps) for cfg in CONFIGS} if torch else {}
    )

    res = {cfg[0]: {"dl": [], "dl_pct": [], "peak": [], "jax": [], "scan": [], "torch": []} for cfg in CONFIGS}
    for rnd in range(1, args.rounds + 1):
        for cfg in CONFIGS:
            r = res[cfg[0]]
            dl_us, dl_pct, peak = run_depthlab(args.depthlab, cfg, args.steps)
            r["dl"].append(dl_us)
            r["dl_pct"].append(dl_pct)
            r["peak"].append(peak)
            r["jax"].append(jax_runners[cfg[0]].time())
            r["scan"].append(jax_runners[cfg[0]].time_scan())
            if torch:
                r["torch"].append(torch_runners[cfg[0]].time())
            line = (f"round {rnd} {cfg[0]:<12} depthlab {dl_us:9.1f} µs ({dl_pct:5.1f} % of "
                    f"{peak:.1f} GFLOP/s)   jax {r['jax'][-1]:9.1f} µs   "
                    f"jax scan {r['scan'][-1]:9.1f} µs")
            if torch:
                line += f"   torch {r['torch'][-1]:9.1f} µs"
            print(line, flush=True)

    def pct(cfg, us, peak):
        return 100 * flops_per_step(cfg) / (us * 1e3) / peak

    rows = []
    for cfg in CONFIGS:
        r = res[cfg[0]]
        med = statistics.median
        dl_pct = med(r["dl_pct"])
        jax_pct = med([pct(cfg, t, p) for t, p in zip(r["jax"], r["peak"])])
        ratio = med([d / j for d, j in zip(r["dl"], r["jax"])])
        scan_pct = med([pct(cfg, t, p) for t, p in zip(r["scan"], r["peak"])])
        scan_ratio = med([d / j for d, j in zip(r["dl"], r["scan"])])
        if r["torch"]:
            torch_pct = f"{med([pct(cfg, t, p) for t, p in zip(r['torch'], r['peak'])]):.1f} %"
            torch_ratio = f"{med([d / t for d, t in zip(r['dl'], r['torch'])]):.2f}"
            torch_us = f"{med(r['torch']):.0f}"
        else:
            torch_pct = torch_ratio = torch_us = "—"
        rows.append([
            cfg[0], summary(cfg), f"{flops_per_step(cfg) / 1e6:.1f}",
            f"{dl_pct:.1f} %", f"{jax_pct:.1f} %", f"{scan_pct:.1f} %", torch_pct,
            f"{ratio:.2f}", f"{scan_ratio:.2f}", torch_ratio,
            f"{med(r['dl']):.0f}", f"{med(r['jax']):.0f}", f"{med(r['scan']):.0f}", torch_us,
            f"{med(r['peak']):.1f}",
        ])
    head = ["config", "net", "MFLOP/step", "depthlab %pk", "JAX %pk", "JAX-scan %pk",
            "torch %pk", "depthlab÷JAX", "depthlab÷JAX-scan", "depthlab÷torch",
            "depthlab µs", "JAX µs", "JAX-scan µs", "torch µs", "peak GF/s"]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    print()
    print("medians over rounds; % of peak = 6·batch·Σ in·out / time / depthlab's measured "
          "1-thread FMA peak; time ratio < 1 means depthlab is faster")
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths))))


if __name__ == "__main__":
    main()
