#!/usr/bin/env bash
# Packs into .device/ (git-ignored) what a GPU machine without Node.js needs to run scripts/gpu-check.sh:
#   .device/node.xz        this machine's node binary (it links only glibc and libstdc++)
#   .device/lib/*.xz       the shared libraries our addon links that such a machine lacks: oneDNN, and the
#                          OpenCL loader that Debian's oneDNN pulls in
#   .device/node_modules.tar.xz   npm's production tree (what dist/ imports: sharp and its libvips,
#                          protobufjs, cli-progress, fastify, prom-client, …) and undici, the one dev
#                          dependency the check runs (the serve part's load generator; it has no dependencies)
#   .device/images/        the photos the serve part cuts its JPEG corpus from, where there are any: images/ of
#                          the test data folder (RESNET_CUDNN_DATA, else ../shared/data)
# gpu-check.sh unpacks them (node and the libraries into its scratch folder, for the Node parts only; the
# modules into node_modules/ when it has none). Carry to that machine: .device, dist,
# build/Release/resnet_cudnn.node.
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
# The runtime dependencies, by their top-level folders (a scoped package is two levels deep).
mapfile -t MODULES < <(npm ls --omit=dev --all --parseable 2>/dev/null | sed "s|^$ROOT/||" | grep '^node_modules/' \
  | awk -F/ '{ print ($2 ~ /^@/) ? $1 "/" $2 "/" $3 : $1 "/" $2 }' | sort -u)
[ ${#MODULES[@]} -gt 0 ] || { echo "pack-device: npm ls found no production modules: run npm ci first" >&2; exit 1; }
[ -d node_modules/undici ] || { echo "pack-device: node_modules/undici is missing: run npm ci first (the serve part's load generator needs it)" >&2; exit 1; }
MODULES+=(node_modules/undici)
echo "pack-device: ${#MODULES[@]} production packages → .device/node_modules.tar.xz"
tar -C "$ROOT" -cf - "${MODULES[@]}" | xz -T0 -6 >.device/node_modules.tar.xz
PHOTOS="${RESNET_CUDNN_DATA:-$ROOT/../shared/data}/images"
if ls "$PHOTOS"/*.jpg >/dev/null 2>&1; then
  mkdir -p .device/images
  cp "$PHOTOS"/*.jpg .device/images/
  echo "pack-device: $(ls .device/images | wc -l) photos → .device/images (the serve part's JPEG corpus)"
else
  echo "pack-device: no photos in $PHOTOS: the serve part will skip its JPEG input" >&2
fi
du -sh .device/node.xz .device/lib .device/node_modules.tar.xz | sed 's/^/pack-device: /'
total=$(du -cb .device dist "$ADDON" | tail -n 1 | cut -f1)
echo "pack-device: to carry: $((total / 1024 / 1024)) MiB (.device, dist, $ADDON)"
