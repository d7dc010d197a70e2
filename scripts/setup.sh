#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine with Node 20: system packages (oneDNN, cmake, a C++ compiler, clang-format,
# Python grpcio for the gRPC test),
# npm dependencies, the native addon and the compiled TypeScript. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -f /usr/include/oneapi/dnnl/dnnl.hpp ] || missing+=(libdnnl-dev)
# Debian's dnnl-config.cmake looks for OpenCL, whose headers libdnnl-dev only recommends.
[ -f /usr/include/CL/cl.h ] || missing+=(ocl-icd-opencl-dev)
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
# npm run prebuilds sets RUNPATH $ORIGIN on the libraries it copies beside the addon.
command -v patchelf >/dev/null 2>&1 || missing+=(patchelf)
# For `npm run format:check` (scripts/ci/checks.sh): the native sources' formatter.
command -v clang-format >/dev/null 2>&1 || missing+=(clang-format)
# For the gRPC conformance test: a client that is not ours (Python grpcio, stubs compiled by grpcio-tools).
/usr/bin/python3 -c 'import grpc, grpc_tools' >/dev/null 2>&1 || missing+=(python3-grpcio python3-grpc-tools)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} with apt-get"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# onnxruntime-node's install script fetches CUDA files from the network; its CPU binaries ship in the package.
export ONNXRUNTIME_NODE_INSTALL=skip
npm ci --no-audit --no-fund
npm run build
