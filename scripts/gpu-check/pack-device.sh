#!/usr/bin/env bash
# Packs into .device/ (git-ignored) what a GPU machine without Node.js needs to run scripts/gpu-check.sh:
#   .device/node.xz        this machine's node binary (it links only glibc and libstdc++)
#   .device/lib/*.xz       the shared libraries our addon links that such a machine lacks: oneDNN, and the
#                          OpenCL loader that Debian's oneDNN pulls in
# gpu-check.sh unpacks them into its scratch folder and uses them for the Node parts only. Carry to that
# machine: .device, dist, build/Release/resnet_cudnn.node, node_modules/protobufjs, node_modules/long
# (dist/index.js imports protobufjs for the ONNX exporter; long is its one dependency).
#
#   npm run build && bash scripts/gpu-check/pack-device.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
ADDON=build/Release/resnet_cudnn.node
[ -f "$ADDON" ] || { echo "pack-device: $ADDON is missing: run npm run build first" >&2; exit 1; }
[ -f dist/index.js ] || { echo "pack-device: dist/index.js is missing: run npm run build first" >&2; exit 1; }

rm -rf .device
mkdir -p .device/lib
NODE_BIN=$(readlink -f "$(command -v node)")
echo "pack-device: $NODE_BIN ($(node --version)) → .device/node.xz"
xz -T0 -6 -c "$NODE_BIN" >.device/node.xz

# The libraries by soname, as the addon asks for them (libdnnl.so.2 → the file it resolves to).
ldd "$ADDON" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | while read -r soname file; do
  case "$soname" in
    libdnnl.so.* | libOpenCL.so.* | libgomp.so.*)
      echo "pack-device: $file → .device/lib/$soname.xz"
      xz -T0 -6 -c "$(readlink -f "$file")" >".device/lib/$soname.xz"
      ;;
  esac
done
[ -n "$(ls .device/lib)" ] || echo "pack-device: warning: the addon links no libdnnl/libOpenCL here; nothing packed for .device/lib" >&2
du -sh .device/node.xz .device/lib | sed 's/^/pack-device: /'
total=$(du -cb .device dist "$ADDON" node_modules/protobufjs node_modules/long | tail -n 1 | cut -f1)
echo "pack-device: to carry: $((total / 1024 / 1024)) MiB (.device, dist, $ADDON, node_modules/protobufjs, node_modules/long)"
