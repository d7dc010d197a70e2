"""Shared by the GPU check's Python parts: JSON results written atomically, a deadline, statistics and
relative L2, with nothing beyond the standard library (torch is imported by the parts that need it). The
statistics, the timing loop, the model and precision set-up and torch.compile come from the package's
python/bench_pytorch.py, which `resnet bench --compare pytorch` runs: one copy of those rules."""

import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

from bench_pytorch import autocast_for, build_model, compile_model, percentile, set_tf32, summarize, time_wall  # noqa: E402,F401


def to_jsonable(value):
    """NaN and infinities as strings ("NaN"), as the Node parts write them."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def write_json(path, data):
    """Writes `data` to `path` through a temporary file and a rename, so a reader never sees half a file."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(to_jsonable(data), f, indent=2)
    os.replace(tmp, path)


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return self.end - time.monotonic()


def relative_l2(actual, expected):
    """‖actual − expected‖₂ / ‖expected‖₂ of two torch tensors, in float64."""
    a = actual.detach().double().cpu().flatten()
    e = expected.detach().double().cpu().flatten()
    norm = float(e.norm())
    diff = float((a - e).norm())
    if not (math.isfinite(norm) and math.isfinite(diff)):
        return float("nan")
    if norm == 0:
        return 0.0 if diff == 0 else float("inf")
    return diff / norm
