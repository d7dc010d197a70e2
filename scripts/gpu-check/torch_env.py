"""The GPU check's Python environment probe: Python, PyTorch, torchvision, CUDA and cuDNN as PyTorch sees
them, the GPU, and the folder of PyTorch's cuDNN wheel (nvidia/cudnn/lib), for the script to hand to our
loader when it did not find cuDNN on its own. Never fails: what is missing is reported.

    python3 torch_env.py WORK

Writes WORK/torch_env.json, WORK/torch_status ("cuda", "cpu" or "none: why") and, when found,
WORK/cudnn_dir.txt."""

import glob
import importlib.util
import os
import platform
import sys

from common import write_json


def cudnn_lib_dir():
    """The nvidia/cudnn/lib folder holding libcudnn.so.9 of an installed cuDNN wheel, or None."""
    candidates = []
    try:
        spec = importlib.util.find_spec("nvidia.cudnn")
        if spec is not None:
            candidates += [os.path.join(p, "lib") for p in (spec.submodule_search_locations or [])]
    except (ImportError, ValueError):
        pass
    for entry in sys.path:
        candidates.append(os.path.join(entry, "nvidia", "cudnn", "lib"))
    for folder in candidates:
        if glob.glob(os.path.join(folder, "libcudnn.so.9*")):
            return os.path.abspath(folder)
    return None


def main():
    work = sys.argv[1]
    env = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "torch": None,
        "cudnnLibDir": cudnn_lib_dir(),
    }
    status = None
    try:
        import numpy

        env["numpy"] = numpy.__version__
    except Exception as error:  # noqa: BLE001 - any import failure is reported, not raised
        env["numpy"] = None
        env["numpyError"] = f"{type(error).__name__}: {error}"
    try:
        import torch

        env["torch"] = torch.__version__
        env["cuda"] = torch.version.cuda
        version = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        # cuDNN 9 numbers its versions major·10000 + minor·100 + patch (91002 is 9.10.2).
        env["cudnn"] = f"{version // 10000}.{version % 10000 // 100}.{version % 100}" if version and version >= 10000 else version
        env["cudaAvailable"] = torch.cuda.is_available()
        if env["cudaAvailable"]:
            props = torch.cuda.get_device_properties(0)
            env["gpu"] = {
                "name": props.name,
                "capability": f"{props.major}.{props.minor}",
                "memoryBytes": props.total_memory,
                "multiprocessors": props.multi_processor_count,
                "count": torch.cuda.device_count(),
            }
    except Exception as error:  # noqa: BLE001
        env["torchError"] = f"{type(error).__name__}: {error}"
        status = f"none: python3 ({sys.executable}) cannot import torch: {env['torchError']}"
    if status is None:
        try:
            import torchvision

            env["torchvision"] = torchvision.__version__
        except Exception as error:  # noqa: BLE001
            env["torchvisionError"] = f"{type(error).__name__}: {error}"
            status = f"none: python3 ({sys.executable}) has torch but cannot import torchvision: {env['torchvisionError']}"
    if status is None:
        status = "cuda" if env.get("cudaAvailable") else "cpu"
    if status != "cuda" and env.get("torch") and "cudaError" not in env:
        env["cudaError"] = "torch.cuda.is_available() is False"

    write_json(os.path.join(work, "torch_env.json"), env)
    with open(os.path.join(work, "torch_status"), "w") as f:
        f.write(status + "\n")
    if env["cudnnLibDir"]:
        with open(os.path.join(work, "cudnn_dir.txt"), "w") as f:
            f.write(env["cudnnLibDir"] + "\n")

    print(f"python {env['python']} ({env['executable']}), numpy {env.get('numpy')}")
    if env["torch"]:
        gpu = env.get("gpu")
        print(f"torch {env['torch']} (CUDA {env.get('cuda')}, cuDNN {env.get('cudnn')}), torchvision {env.get('torchvision')}")
        print(f"torch sees: {gpu['name'] + ' compute ' + gpu['capability'] if gpu else 'no GPU'}")
    print(f"torch status: {status}")
    print(f"PyTorch's cuDNN folder: {env['cudnnLibDir']}")


if __name__ == "__main__":
    main()
