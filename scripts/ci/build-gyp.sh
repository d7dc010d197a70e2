#!/usr/bin/env bash
# Builds the addon with node-gyp (binding.gyp: the CPU backend only) in a temporary copy of the working tree,
# leaving the checkout's build/ alone, then runs one resnet18 forward through it and through the cmake-js addon
# (build/Release) and compares the logits (within 1e-5 relative to the largest). Needs `npm run build` first
# (dist/ and the cmake-js addon) and oneDNN's headers; node-gyp is npm's own (or npx node-gyp).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
[ -f build/Release/resnet_cudnn.node ] || { echo "build-gyp: build/Release/resnet_cudnn.node is missing: run npm run build first" >&2; exit 1; }
[ -f dist/index.js ] || { echo "build-gyp: dist/ is missing: run npm run build first" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/resnet-gyp.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Tracked and untracked-but-not-ignored files, so uncommitted edits are built too; node_modules is linked.
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$work"
ln -s "$repo/node_modules" "$work/node_modules"

gyp="${npm_config_node_gyp:-}"
if [ -z "$gyp" ] || [ ! -f "$gyp" ]; then
  gyp="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")/node_modules/node-gyp/bin/node-gyp.js"
fi
# The running node's own headers, where its installation ships them (offline: node-gyp cannot download them).
prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
nodedir=()
[ -f "$prefix/include/node/node_api.h" ] && nodedir=(--nodedir="$prefix")
echo "build-gyp: node-gyp rebuild in $work"
if [ -f "$gyp" ]; then
  (cd "$work" && node "$gyp" rebuild -j 2 "${nodedir[@]}")
else
  (cd "$work" && npx --yes node-gyp rebuild -j 2 "${nodedir[@]}")
fi
addon="$work/build/Release/resnet_cudnn.node"
[ -f "$addon" ] || { echo "build-gyp: node-gyp produced no $addon" >&2; exit 1; }

RESNET_CUDNN_ADDON="$addon" node -e '
  const a = require(process.env.RESNET_CUDNN_ADDON);
  const cuda = a.info().backends.cuda;
  if (cuda.available || !/^built without CUDA/.test(cuda.reason)) { console.error("build-gyp: the node-gyp addon should report the CUDA backend unavailable as built without CUDA, got", cuda); process.exit(1); }
  console.log("build-gyp: node-gyp addon loads; cuda:", cuda.reason.slice(0, 60) + "...");'
RESNET_CUDNN_ADDON="$addon" node scripts/ci/addon-forward.mjs > "$work/gyp.json"
RESNET_CUDNN_ADDON="$repo/build/Release/resnet_cudnn.node" node scripts/ci/addon-forward.mjs > "$work/cmake.json"
node -e '
  const [gyp, cmake] = process.argv.slice(1).map((f) => JSON.parse(require("fs").readFileSync(f, "utf8")));
  if (gyp.addon === cmake.addon) { console.error("build-gyp: both runs loaded", gyp.addon); process.exit(1); }
  if (gyp.logits.length !== cmake.logits.length || gyp.logits.length !== 20) { console.error("build-gyp: logits of", gyp.logits.length, "and", cmake.logits.length, "values"); process.exit(1); }
  const scale = Math.max(...cmake.logits.map(Math.abs));
  const diff = Math.max(...gyp.logits.map((v, i) => Math.abs(v - cmake.logits[i])));
  console.log(`build-gyp: ${gyp.addon} vs ${cmake.addon}: max |difference| ${diff.toExponential(2)} (largest logit ${scale.toFixed(4)})`);
  if (!(diff <= 1e-5 * scale)) { console.error("build-gyp: the node-gyp addon differs from the cmake-js addon"); process.exit(1); }
  console.log("build-gyp: ok: the node-gyp addon matches the cmake-js addon");' "$work/gyp.json" "$work/cmake.json"
