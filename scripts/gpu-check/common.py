"""Shared by the GPU check's Python parts: JSON results written atomically, a deadline, statistics and
relative L2, with nothing beyond the standard library (torch is imported by the parts that need it)."""

import json
import math
import os
import time


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


def percentile(values, p):
    """Linear interpolation between closest ranks (numpy's default), as stats.mjs does."""
    if not values:
        return float("nan")
    s = sorted(values)
    rank = min(max(p, 0), 100) / 100 * (len(s) - 1)
    lo, hi = math.floor(rank), math.ceil(rank)
    return s[lo] + (s[hi] - s[lo]) * (rank - lo)


def summarize(times_ms):
    return {
        "iterations": len(times_ms),
        "medianMs": percentile(times_ms, 50),
        "p90Ms": percentile(times_ms, 90),
        "minMs": min(times_ms) if times_ms else float("nan"),
    }


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
