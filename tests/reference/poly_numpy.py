"""Writes tests/reference/poly-numpy.json: NumPy's least-squares and ridge
fits of PRML's polynomial problem on depthlab's default `poly` points, the
independent reference tests/poly.rs compares depthlab's Householder QR with.

Usage (from the repository root, numpy installed):
    cargo run --release -- poly --points /tmp/points.csv > /dev/null
    python3 tests/reference/poly_numpy.py /tmp/points.csv

The points are stored too, so the test first checks they are still the
ones depthlab generates.

NumPy's lstsq is an SVD solver (LAPACK gelsd), unrelated to depthlab's QR.
The ridge fit minimizes sum (A w - t)^2 + rho * sum_{j>=1} w_j^2, solved as
the least-squares problem [A; sqrt(rho) P] w = [t; 0] (P: identity without
its first row, w_0 unpenalized).
"""
import csv
import json
import sys

import numpy as np


def main(path):
    rows = list(csv.DictReader(open(path)))
    x = np.array([float(r["x"]) for r in rows if r["set"] == "train"])
    t = np.array([float(r["t"]) for r in rows if r["set"] == "train"])
    fits = []
    for ln_rho in [None, -18.0, 0.0]:
        for degree in range(10):
            a = np.vander(x, degree + 1, increasing=True)
            b = t
            if ln_rho is not None and degree > 0:
                p = np.sqrt(np.exp(ln_rho)) * np.eye(degree + 1)[1:]
                a = np.vstack([a, p])
                b = np.concatenate([t, np.zeros(degree)])
            w, *_ = np.linalg.lstsq(a, b, rcond=None)
            s = np.linalg.svd(a, compute_uv=False)
            fits.append(
                {
                    "degree": degree,
                    "ln_rho": "-inf" if ln_rho is None else ln_rho,
                    "w": [float(v) for v in w],
                    "condition": float(s[0] / s[-1]),
                }
            )
    out = {
        "numpy": np.__version__,
        "x": [float(v) for v in x],
        "t": [float(v) for v in t],
        "fits": fits,
    }
    with open("tests/reference/poly-numpy.json", "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
