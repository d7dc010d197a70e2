"""The GPU check's PyTorch reference: torchvision models with seeded random weights and non-trivial
BatchNorm statistics, each written as safetensors with a seeded input and PyTorch's FP32 logits (TF32 off),
for the Node part to load through our public API and compare (parity.mjs).

    python3 torch_reference.py OUTDIR [--models resnet50,resnet18,resnext50_32x4d] [--batch 4] [--size 224]

Writes OUTDIR/<model>.safetensors (the state dict), OUTDIR/<model>.reference.safetensors ("input",
"logits") and OUTDIR/manifest.json, rewritten after each model. Runs on the GPU when PyTorch has one,
else on the CPU (FP32 logits are the reference either way)."""

import argparse
import os
import sys
import time

from common import relative_l2, write_json
import safetensors_writer

SEED = 20240611


def non_trivial_batchnorm(model, calibration, generator):
    """BatchNorm statistics measured on a calibration batch, then perturbed, with random affine parameters:
    torchvision's init leaves BN nearly the identity, which would leave folding it untested, and statistics
    that match the activations' scale keep the logits finite in FP16."""
    import torch

    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # a cumulative average: after one batch, that batch's statistics
    model.train()
    with torch.no_grad():
        model(calibration)
        for bn in bns:
            n = bn.num_features
            u = lambda lo, hi: (lo + (hi - lo) * torch.rand(n, generator=generator)).to(bn.weight.device)  # noqa: E731
            bn.weight.copy_(u(0.5, 1.5))
            bn.bias.copy_(u(-0.2, 0.2))
            bn.running_mean.add_(u(-0.1, 0.1) * bn.running_var.sqrt())
            bn.running_var.mul_(u(0.7, 1.4))
            bn.momentum = 0.1
    model.eval()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--models", default="resnet50,resnet18,resnext50_32x4d")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    manifest_path = os.path.join(args.out, "manifest.json")
    manifest = {"part": "torch_reference", "models": []}

    try:
        import torch
        import torchvision
    except Exception as error:  # noqa: BLE001 - reported, and the Node side skips with this reason
        manifest["skipped"] = f"python3 cannot import torch/torchvision: {type(error).__name__}: {error}"
        write_json(manifest_path, manifest)
        print(manifest["skipped"])
        return 0

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    manifest.update({
        "device": device,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "tf32": False,
        "input": {"shape": [args.batch, 3, args.size, args.size], "seed": SEED},
    })
    generator = torch.Generator().manual_seed(SEED)
    x = torch.randn(args.batch, 3, args.size, args.size, generator=generator)
    calibration = torch.randn(8, 3, args.size, args.size, generator=generator)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, reference on {device}, TF32 off")

    for index, name in enumerate(m for m in args.models.split(",") if m):
        start = time.monotonic()
        torch.manual_seed(SEED + index)
        model = getattr(torchvision.models, name)(weights=None).to(device)
        non_trivial_batchnorm(model, calibration.to(device), torch.Generator().manual_seed(SEED + 100 + index))
        weights_path = os.path.join(args.out, f"{name}.safetensors")
        safetensors_writer.save(weights_path, model.state_dict(), {"format": "pt", "source": "gpu-check torch_reference.py"})

        xd = x.to(device)
        with torch.no_grad():
            logits = model(xd).float().cpu()
            # PyTorch's own low-precision error against the same reference, for context in the report.
            torch_errors = {}
            if device == "cuda":
                model_cl = model.to(memory_format=torch.channels_last)
                xcl = xd.contiguous(memory_format=torch.channels_last)
                for label, dtype in (("float16", torch.float16), ("bfloat16", torch.bfloat16)):
                    with torch.autocast("cuda", dtype=dtype):
                        torch_errors[label] = relative_l2(model_cl(xcl).float(), logits)
                torch.backends.cuda.matmul.allow_tf32 = True
                torch.backends.cudnn.allow_tf32 = True
                torch_errors["tf32"] = relative_l2(model_cl(xcl).float(), logits)
                torch.backends.cuda.matmul.allow_tf32 = False
                torch.backends.cudnn.allow_tf32 = False
        reference_path = os.path.join(args.out, f"{name}.reference.safetensors")
        safetensors_writer.save(reference_path, {"input": x, "logits": logits}, {"device": device, "tf32": "off"})
        finite = bool(torch.isfinite(logits).all())
        manifest["models"].append({
            "name": name,
            "weights": os.path.abspath(weights_path),
            "reference": os.path.abspath(reference_path),
            "logitsStd": float(logits.std()),
            "finite": finite,
            "torchErrors": torch_errors,
            "seconds": round(time.monotonic() - start, 2),
        })
        write_json(manifest_path, manifest)
        errors = ", ".join(f"{k} {v:.2e}" for k, v in torch_errors.items())
        print(f"{name}: logits std {float(logits.std()):.3f}, finite {finite}; PyTorch's own error vs FP32: {errors or 'n/a on cpu'} ({time.monotonic() - start:.1f} s)")
        del model
        if device == "cuda":
            torch.cuda.empty_cache()
    write_json(manifest_path, manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
