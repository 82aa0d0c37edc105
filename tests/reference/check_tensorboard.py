#!/usr/bin/env python3
"""Reads a `depthlab train --out RUN --tensorboard RUN/tb` run back with the
tensorboard package's own event reader and checks it against the run folder:
every layer's delta_std against stats.jsonl, the weight histograms' counts,
the losses and test accuracy against epochs.csv.

Usage: python3 tests/reference/check_tensorboard.py RUN   (needs `pip install tensorboard`)
"""
import json, sys, csv
from tensorboard.backend.event_processing import event_accumulator as ea
run = sys.argv[1]
acc = ea.EventAccumulator(run + "/tb", size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0})
acc.Reload()
tags = acc.Tags()
print("scalar tags:", len(tags["scalars"]), sorted(tags["scalars"])[:6], "...")
print("histogram tags:", len(tags["histograms"]), sorted(tags["histograms"])[:4], "...")
worst = 0.0; n = 0
for line in open(run + "/stats.jsonl"):
    rec = json.loads(line)
    for l, layer in enumerate(rec["layers"], 1):
        ev = {e.step: e.value for e in acc.Scalars(f"layer{l}/delta_std")}
        want = layer["delta"]["std"]
        got = ev[rec["step"]]
        worst = max(worst, abs(got - want) / abs(want)); n += 1
        h = {e.step: e.histogram_value for e in acc.Histograms(f"layer{l}/weights")}[rec["step"]]
        assert h.num == layer["fan_in"] * layer["units"], (h.num, layer)
print(f"layer*/delta_std: {n} values, max relative difference to stats.jsonl {worst:.2e} (f32 rounding)")
rows = list(csv.DictReader(open(run + "/epochs.csv")))
for r in rows:
    step = int(r["step"])
    for tag, col in [("loss/train","train_loss"),("loss/test","test_loss"),("accuracy/test","test_acc")]:
        got = {e.step: e.value for e in acc.Scalars(tag)}[step]
        assert abs(got - float(r[col])) <= 1e-6 * abs(float(r[col])) + 1e-7, (tag, step, got, r[col])
print(f"loss/train, loss/test, accuracy/test equal epochs.csv at all {len(rows)} epochs")
