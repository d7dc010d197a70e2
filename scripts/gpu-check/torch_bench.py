"""The GPU check's PyTorch side of the benchmark: torchvision resnet50 at 224×224 in eager mode
(channels_last, torch.autocast for float16/bfloat16, cudnn.benchmark=True, TF32 on only in the tf32 rows),
timed two ways: device-only (CUDA events around the forward, input already on the GPU) and end to end (host
tensor → .cuda() → forward → .cpu(), wall clock), so the ratio to ours (end to end) is fair to both;
torch.compile FP16 at batch 256 (default mode) and batch 1 (mode="reduce-overhead", CUDA graphs), each in
its own process under a time limit; and the GPU's dense FP16 matmul peak. Iterations are chosen by time.

    python3 torch_bench.py bench OUT.json --budget SECONDS [--batches 1,8,32,128,256] [--dtypes ...]
    python3 torch_bench.py compile OUT.json --batch 256 --mode default [--seconds 1] [--warm-only]

`bench` writes OUT.json after every measurement. `compile --warm-only` compiles and runs once: run ahead
of time, it fills the inductor cache so that the timed compile later fits its budget."""

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time

from common import Deadline, autocast_for, build_model, compile_model, read_json, set_tf32, summarize, time_wall, write_json

IMAGE = (3, 224, 224)
COMPILE_CAP_SECONDS = 150


def time_device(fn, seconds, min_iterations=5):
    """Milliseconds per call of `fn` between CUDA events on the current stream, until `seconds` are spent."""
    import torch

    times = []
    start_event = torch.cuda.Event(enable_timing=True)
    end_event = torch.cuda.Event(enable_timing=True)
    begin = time.perf_counter()
    while len(times) < min_iterations or time.perf_counter() - begin < seconds:
        if time.perf_counter() - begin > 3 * seconds + 5 and times:
            break
        start_event.record()
        fn()
        end_event.record()
        end_event.synchronize()
        times.append(start_event.elapsed_time(end_event))
    return times


def resnet50_on_gpu():
    return build_model("resnet50", "cuda", seed=0)


def matmul_peak(seconds_each=0.3):
    """The best dense FP16 matmul rate over a few square sizes, in TFLOP/s (random data: zeros run faster)."""
    import torch

    set_tf32(False)
    results = []
    for n in (4096, 8192, 16384):
        a = torch.randn(n, n, device="cuda", dtype=torch.float16)
        b = torch.randn(n, n, device="cuda", dtype=torch.float16)
        for _ in range(3):
            a @ b
        torch.cuda.synchronize()
        times = time_device(lambda: a @ b, seconds_each, min_iterations=10)
        ms = summarize(times)["medianMs"]
        results.append({"n": n, "medianMs": ms, "tflops": 2 * n**3 / (ms / 1000) / 1e12})
        del a, b
    torch.cuda.empty_cache()
    best = max(results, key=lambda r: r["tflops"])
    return {
        "tflops": best["tflops"],
        "n": best["n"],
        "results": results,
        "fp16ReducedPrecisionReduction": torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction,
    }


def eager_cell(model, dtype, batch, seconds):
    """One (dtype, batch) cell of eager PyTorch: device-only and end-to-end timings."""
    import torch

    set_tf32(dtype == "tf32")
    x_host = torch.rand(batch, *IMAGE)
    x_dev = x_host.cuda().contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), autocast_for(dtype):
        begin = time.perf_counter()
        model(x_dev)  # cudnn.benchmark tunes these shapes here
        torch.cuda.synchronize()
        first_ms = (time.perf_counter() - begin) * 1000
        for _ in range(2):
            model(x_dev)
        torch.cuda.synchronize()
        device = summarize(time_device(lambda: model(x_dev), seconds / 2))

        def end_to_end():
            return model(x_host.cuda().contiguous(memory_format=torch.channels_last)).float().cpu()

        end_to_end()
        e2e = summarize(time_wall(end_to_end, seconds / 2))
    set_tf32(False)
    return {"dtype": dtype, "batch": batch, "firstMs": first_ms, "device": device, "e2e": e2e}


def compile_cell(args):
    """`compile`: torch.compile resnet50 FP16 (autocast, channels_last) at one batch size and mode."""
    import torch

    torch.backends.cudnn.benchmark = True  # TF32 flags left at PyTorch's defaults: FP16 convolutions ignore them
    compiled = compile_model(resnet50_on_gpu(), args.mode)
    x = torch.rand(args.batch, *IMAGE).cuda().contiguous(memory_format=torch.channels_last)

    def step():
        return compiled(x)

    result = {"mode": args.mode, "batch": args.batch, "dtype": "float16", "torch": torch.__version__}
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16):
        begin = time.perf_counter()
        step()
        torch.cuda.synchronize()
        result["compileSeconds"] = time.perf_counter() - begin
        if not args.warm_only:
            for _ in range(3):  # reduce-overhead records its CUDA graph in these
                step()
            torch.cuda.synchronize()
            result.update(summarize(time_device(step, args.seconds)))
    result["status"] = "ok"
    write_json(args.out, result)
    print(f"torch.compile {args.mode} b{args.batch}: compiled and ran in {result['compileSeconds']:.1f} s" + ("" if args.warm_only else f", {result['medianMs']:.3f} ms median"))


_children = set()


def _stop_children(signum, _frame):
    """On SIGTERM (gpu-check.sh's time limit): the compile processes run in their own sessions, out of
    reach of the limit's signal, so they are killed here, by process group, before exiting."""
    for pid in list(_children):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    sys.exit(128 + signum)


def run_compile_subprocess(mode, batch, timeout, seconds, out):
    """Runs `compile` in its own process group, killed whole (inductor's workers too) at `timeout`."""
    command = [sys.executable, os.path.abspath(__file__), "compile", out, "--batch", str(batch), "--mode", mode, "--seconds", str(seconds)]
    begin = time.monotonic()
    process = subprocess.Popen(command, start_new_session=True)
    _children.add(process.pid)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return {"status": "timeout", "reason": f"did not compile and run within {timeout:.0f} s (the time budget left for it)"}
    finally:
        _children.discard(process.pid)
        # The group may outlive its leader (inductor's compile workers): end it either way.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    result = read_json(out)
    if process.returncode != 0 or not result:
        return {"status": "failed", "reason": f"exited with status {process.returncode} after {time.monotonic() - begin:.0f} s (see torch_bench.log)"}
    return result


def bench(args):
    results = {"part": "torch_bench", "eager": [], "compile": []}
    deadline = Deadline(args.budget)

    def save():
        write_json(args.out, results)

    try:
        import torch
        import torchvision
    except Exception as error:  # noqa: BLE001
        results["skipped"] = f"python3 cannot import torch/torchvision: {type(error).__name__}: {error}"
        save()
        print(results["skipped"])
        return 0
    if not torch.cuda.is_available():
        results["skipped"] = "PyTorch sees no GPU (torch.cuda.is_available() is False)"
        save()
        print(results["skipped"])
        return 0
    torch.backends.cudnn.benchmark = True
    results.update({"torch": torch.__version__, "torchvision": torchvision.__version__, "gpu": torch.cuda.get_device_name(0), "channelsLast": True, "cudnnBenchmark": True})
    prewarm = [read_json(p) for p in args.prewarmed.split(",") if p] if args.prewarmed else []
    results["prewarm"] = [p for p in prewarm if p]
    save()

    try:
        results["peak"] = matmul_peak()
        print(f"FP16 dense matmul peak: {results['peak']['tflops']:.1f} TFLOP/s (n = {results['peak']['n']})")
    except Exception as error:  # noqa: BLE001
        results["peak"] = {"error": f"{type(error).__name__}: {error}"}
        print(f"FP16 matmul peak failed: {results['peak']['error']}")
    save()

    model = resnet50_on_gpu()
    dtypes = [d for d in args.dtypes.split(",") if d]
    batches = [int(b) for b in args.batches.split(",") if b]
    first = [(d, b) for d, b in (("float16", 1), ("float16", 256)) if d in dtypes and b in batches]
    rest = [(d, b) for d in dtypes for b in batches if (d, b) not in first]
    per_cell = 1.0  # seconds of timing per cell (both ways together)
    cell_cost = 2.5  # with warm-up and cudnn.benchmark's tuning, seconds a cell takes in all (estimate)

    def run_eager(cells, reserve):
        for dtype, batch in cells:
            share = (deadline.left() - reserve) / max(1, len([c for c in cells if c not in done]))
            if share < 1.5:
                results["eager"].append({"dtype": dtype, "batch": batch, "error": "skipped: out of time (the part's time budget)"})
                done.add((dtype, batch))
                save()
                continue
            try:
                cell = eager_cell(model, dtype, batch, min(per_cell, max(0.3, share - cell_cost + per_cell)))
                print(f"eager {dtype} b{batch}: device {cell['device']['medianMs']:.3f} ms, end to end {cell['e2e']['medianMs']:.3f} ms (first {cell['firstMs']:.0f} ms)")
            except Exception as error:  # noqa: BLE001 - e.g. out of memory at a large batch
                cell = {"dtype": dtype, "batch": batch, "error": f"{type(error).__name__}: {error}"}
                print(f"eager {dtype} b{batch}: failed: {cell['error']}")
                torch.cuda.empty_cache()
            results["eager"].append(cell)
            done.add((dtype, batch))
            save()

    done = set()
    rest_reserve = len(rest) * cell_cost
    run_eager(first, 0)

    for mode, batch, minimum in (("default", 256, 20), ("reduce-overhead", 1, 20)):
        if "float16" not in dtypes:
            break
        later = 20 if batch == 256 else 0  # the next compile's minimum
        timeout = min(COMPILE_CAP_SECONDS, deadline.left() - rest_reserve - later)
        entry = {"mode": mode, "batch": batch, "dtype": "float16"}
        if timeout < minimum:
            entry.update(status="skipped", reason=f"only {max(0, timeout):.0f} s of the time budget left for it")
        else:
            print(f"torch.compile {mode} b{batch}: up to {timeout:.0f} s")
            out = os.path.join(os.path.dirname(os.path.abspath(args.out)), f"torch_compile_{mode}_b{batch}.json")
            entry.update(run_compile_subprocess(mode, batch, timeout, per_cell, out))
            entry.setdefault("mode", mode)
        results["compile"].append(entry)
        print(f"torch.compile {mode} b{batch}: {entry['status']}" + (f" ({entry['reason']})" if entry.get("reason") else f", {entry.get('medianMs', float('nan')):.3f} ms median"))
        save()

    run_eager(rest, 0)
    save()
    return 0


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bench")
    b.add_argument("out")
    b.add_argument("--budget", type=float, default=170)
    b.add_argument("--batches", default="1,8,32,128,256")
    b.add_argument("--dtypes", default="float16,bfloat16,tf32,float32")
    b.add_argument("--prewarmed", default="", help="comma-separated JSON files the prewarm compiles wrote")
    c = sub.add_parser("compile")
    c.add_argument("out")
    c.add_argument("--batch", type=int, required=True)
    c.add_argument("--mode", choices=["default", "reduce-overhead"], required=True)
    c.add_argument("--seconds", type=float, default=1.0)
    c.add_argument("--warm-only", action="store_true")
    args = parser.parse_args()
    if args.command == "compile":
        compile_cell(args)
        return 0
    signal.signal(signal.SIGTERM, _stop_children)
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
