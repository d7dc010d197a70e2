"""PyTorch's side of `resnet bench --compare pytorch`: torchvision's model with the weights resnet-cudnn
handed over as safetensors, timed in eager mode and with torch.compile on the device and in the dtype ours
ran in, by the same rules as ours (untimed warm-up runs, then timed runs; medians and linear-interpolated
quantiles), and its logits for a fixed input that ours also ran, for the relative L2 between the engines.

    python3 bench_pytorch.py REQUEST.json

REQUEST.json (written by lib/cli/pytorch.ts):
    model        a torchvision ResNet name (resnet18 ... wide_resnet101_2)
    weights      a safetensors file with its state dict (torchvision's keys)
    checkInput   raw little-endian float32 NCHW pixels of shape checkShape; timed as the first batch size too
    checkShape   [batch, 3, size, size]
    size, batches, warmup, iters, threads
    device       "cpu" or "cuda:N"
    dtype        float32, tf32, float16 or bfloat16 (all but float32 need CUDA)
    compile      true to time torch.compile (mode compileMode, default "default") after eager
    weightsLoader  "auto" (the safetensors package when importable) or "builtin" (this file's reader)

Prints exactly one JSON object on stdout: the results, or {"error": {"kind", "message"}} with exit status 3
when torch, torchvision or CUDA is missing here. Anything else raises: a traceback on stderr, exit status 1.
Everything torch prints goes to stderr, so that stdout holds the JSON alone.

Imports nothing beyond the standard library at the top, so that it can report a missing torch; the GPU
check's PyTorch parts (scripts/gpu-check/torch_bench.py, common.py) import its helpers."""

import contextlib
import json
import math
import os
import platform
import struct
import sys
import time

MISSING = 3  # exit status when torch, torchvision or CUDA is missing: the caller reports it and goes on


class Missing(Exception):
    """torch, torchvision or CUDA is not available in this Python."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


# ---- statistics, shared with the GPU check --------------------------------------------------------------


def percentile(values, p):
    """The p-th percentile (0..100) with linear interpolation between closest ranks (numpy's default), as
    lib/cli/stats.ts's quantile and scripts/gpu-check/stats.mjs compute it."""
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
        "p10Ms": percentile(times_ms, 10),
        "p90Ms": percentile(times_ms, 90),
        "minMs": min(times_ms) if times_ms else float("nan"),
    }


def time_wall(fn, seconds, min_iterations=5):
    """Milliseconds per call of `fn` by the wall clock until `seconds` are spent (fn must synchronize
    itself, e.g. with .cpu()); at most 3 × seconds + 5 s in all."""
    times = []
    begin = time.perf_counter()
    while len(times) < min_iterations or time.perf_counter() - begin < seconds:
        if time.perf_counter() - begin > 3 * seconds + 5 and times:
            break
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return times


def time_runs(fn, warmup, iters):
    """`warmup` untimed calls, then milliseconds of each of `iters` timed calls: `resnet bench`'s rule."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return times


# ---- the model and its precision, shared with the GPU check ---------------------------------------------


def import_torch():
    """torch and torchvision, or Missing saying which import failed and why."""
    try:
        import torch
    except Exception as error:  # noqa: BLE001 - any import failure means "no usable torch here"
        raise Missing("torch", f"{sys.executable} cannot import torch: {type(error).__name__}: {error}") from error
    try:
        import torchvision
    except Exception as error:  # noqa: BLE001
        raise Missing("torchvision", f"{sys.executable} has torch {torch.__version__} but cannot import torchvision: {type(error).__name__}: {error}") from error
    return torch, torchvision


def set_tf32(enabled):
    """TF32 for float32 convolutions and matmuls, through the legacy flags only: PyTorch 2.9+ raises when
    its legacy and per-backend (fp32_precision) TF32 APIs are mixed, and its own internals still read the
    legacy ones."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def autocast_for(dtype, device_type="cuda"):
    """float16 and bfloat16 run under torch.autocast, as PyTorch users run mixed precision; float32 and
    tf32 (set_tf32) without it."""
    import torch

    if dtype == "float16":
        return torch.autocast(device_type, dtype=torch.float16)
    if dtype == "bfloat16":
        return torch.autocast(device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def build_model(name, device, state_dict=None, seed=0):
    """torchvision's `name` in eval mode on `device` (random init from `seed`, or `state_dict` loaded
    strictly); on CUDA in channels_last, the layout cuDNN's fastest kernels take."""
    import torch
    import torchvision

    torch.manual_seed(seed)
    model = getattr(torchvision.models, name)(weights=None)
    if state_dict is not None:
        model.load_state_dict(state_dict, strict=True)
    model = model.eval().to(device)
    if str(device).startswith("cuda"):
        model = model.to(memory_format=torch.channels_last)
    return model


def compile_model(model, mode="default"):
    """torch.compile(model) and a step function that calls it; with mode "reduce-overhead" (CUDA graphs)
    each step is marked as a new iteration, so that the graph's outputs of one step may be overwritten."""
    import torch

    compiled = torch.compile(model, mode=None if mode == "default" else mode)
    mark_step = getattr(getattr(torch, "compiler", None), "cudagraph_mark_step_begin", None)

    def step(x):
        if mark_step is not None and mode == "reduce-overhead":
            mark_step()
        return compiled(x)

    return step


def set_cpu_freezing():
    """Inductor's freezing for CPU inference: weights become constants, so it can prepack them for oneDNN
    (PyTorch's advice for CPU inference; without it the compiled resnet18 ran 3x slower than eager here).
    Returns whether it could be set."""
    try:
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        return True
    except Exception:  # noqa: BLE001 - an older or different torch: compile without it
        return False


# ---- safetensors --------------------------------------------------------------------------------------------

_SAFETENSORS_DTYPES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
    "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool",
}


def read_safetensors(path):
    """A safetensors file as {name: CPU tensor}, read here: an 8-byte little-endian header length, the JSON
    header {name: {dtype, shape, data_offsets}}, then the tensors' raw little-endian bytes."""
    import torch

    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (header_length,) = struct.unpack("<Q", data[:8])
    if 8 + header_length > len(data):
        raise ValueError(f"{path}: the header length {header_length} runs past the end of the file")
    header = json.loads(data[8 : 8 + header_length].decode("utf-8"))
    body = memoryview(data)[8 + header_length :]
    if sys.byteorder != "little":
        raise RuntimeError("read_safetensors: big-endian hosts are not supported")
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = getattr(torch, _SAFETENSORS_DTYPES[entry["dtype"]])
        begin, end = entry["data_offsets"]
        if not 0 <= begin <= end <= len(body):
            raise ValueError(f"{path}: {name}'s data_offsets {begin}..{end} lie outside the data ({len(body)} bytes)")
        raw = bytearray(body[begin:end])  # writable and owned: torch.frombuffer shares its memory
        flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(entry["shape"]).clone()
    return tensors


def load_weights(path, loader):
    """The state dict in `path` and the name of the reader used."""
    if loader == "auto":
        try:
            from safetensors.torch import load_file
        except Exception:  # noqa: BLE001 - the package is optional
            pass
        else:
            return load_file(path), "safetensors"
    return read_safetensors(path), "builtin"


# ---- the benchmark ----------------------------------------------------------------------------------------


def timed_engine(forward, request, check_input, make_input, synchronize):
    """Timings per batch size and the logits for the check input, for one engine (eager or compiled).
    The first call of each batch size is timed apart (torch.compile compiles there)."""
    timings = []
    for batch in request["batches"]:
        x = check_input if batch == request["checkShape"][0] else make_input(batch)
        begin = time.perf_counter()
        forward(x)
        synchronize()
        first_ms = (time.perf_counter() - begin) * 1000
        times = time_runs(lambda: forward(x), max(0, request["warmup"] - 1), request["iters"])
        timings.append({"batch": batch, "firstMs": first_ms, "timesMs": times, **summarize(times)})
    logits = forward(check_input)
    return {"timings": timings, "logits": [float(v) for v in logits.flatten().tolist()]}


def bench(request):
    torch, torchvision = import_torch()
    device = request["device"]
    on_cuda = device.startswith("cuda")
    if on_cuda and not torch.cuda.is_available():
        raise Missing("cuda", f"torch {torch.__version__} in {sys.executable} sees no GPU (torch.cuda.is_available() is False): a CPU-only build, or no driver")
    torch.set_num_threads(request["threads"])
    with contextlib.suppress(RuntimeError):  # only settable before the first parallel work
        torch.set_num_interop_threads(1)
    dtype = request["dtype"]
    if on_cuda:
        torch.backends.cudnn.benchmark = True
        set_tf32(dtype == "tf32")
    elif dtype != "float32":
        raise ValueError(f"dtype {dtype} needs CUDA; the CPU runs float32 only")

    state_dict, loader = load_weights(request["weights"], request.get("weightsLoader", "auto"))
    model = build_model(request["model"], device, state_dict)
    shape = request["checkShape"]
    with open(request["checkInput"], "rb") as f:
        raw = bytearray(f.read())
    check_host = torch.frombuffer(raw, dtype=torch.float32).reshape(shape).clone()
    size = request["size"]
    generator = torch.Generator().manual_seed(0)

    if on_cuda:
        # Host to host, as ours is timed: pinned input to the GPU, the forward, the logits back.
        check_input = check_host.pin_memory()

        def make_input(batch):
            return (torch.rand(batch, 3, size, size, generator=generator) * 2 - 1).pin_memory()

        def run(fn):
            def forward(x):
                return fn(x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)).float().cpu()

            return forward

        synchronize = torch.cuda.synchronize
    else:
        check_input = check_host

        def make_input(batch):
            return torch.rand(batch, 3, size, size, generator=generator) * 2 - 1

        def run(fn):
            return lambda x: fn(x).float()

        def synchronize():
            pass

    result = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "device": device,
        "deviceName": torch.cuda.get_device_name(torch.device(device)) if on_cuda else None,
        "threads": torch.get_num_threads(),
        "ompWaitPolicy": os.environ.get("OMP_WAIT_POLICY"),
        "dtype": dtype,
        "channelsLast": on_cuda,
        "weightsLoader": loader,
    }
    with torch.inference_mode(), autocast_for(dtype, "cuda" if on_cuda else "cpu"):
        result["eager"] = timed_engine(run(model), request, check_input, make_input, synchronize)
        if not request.get("compile"):
            result["compile"] = {"status": "off"}
        else:
            mode = request.get("compileMode", "default")
            begin = time.perf_counter()
            try:
                freezing = not on_cuda and set_cpu_freezing()
                step = compile_model(model, mode)
                result["compile"] = {"status": "ok", "mode": mode, "freezing": freezing, **timed_engine(run(step), request, check_input, make_input, synchronize)}
            except Exception as error:  # noqa: BLE001 - e.g. no C compiler for inductor: eager still counts
                print(f"torch.compile failed: {type(error).__name__}: {error}", file=sys.stderr)
                result["compile"] = {"status": "failed", "mode": mode, "reason": f"{type(error).__name__}: {str(error)[:2000]}"}
            result["compile"]["seconds"] = time.perf_counter() - begin
    return result


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        request = json.load(f)
    # stdout carries the JSON alone: whatever torch and its compilers print (at the file descriptor
    # level too) goes to stderr.
    stdout = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        result, status = bench(request), 0
    except Missing as missing:
        result, status = {"error": {"kind": missing.kind, "message": str(missing)}}, MISSING
    stdout.write(json.dumps(result, allow_nan=False) + "\n")
    stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
