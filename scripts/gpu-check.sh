#!/usr/bin/env bash
# The one-shot GPU check (issue 3 §6): on a Linux machine with an NVIDIA GPU, Node 20, the built addon and
# dist/, and optionally python3 with torch and torchvision, in under 6 minutes:
#   env              the GPU, driver, CUDA runtime, cuDNN (where our loader found it, or why not), PyTorch
#   ops              every op, the input conversion, concurrent runs and every torchvision variant on the
#                    GPU against our CPU backend
#   torch_reference  torchvision models with random weights → safetensors + PyTorch's FP32 logits (background)
#   parity           those models through our public API on the GPU in every precision vs PyTorch's logits
#   bench            resnet50 at batch 1..256 in fp32/tf32/fp16/bf16, ours end to end
#   int8             resnet50 quantized (made-up scales until quantize() lands) at precision int8 (FP8 E4M3 convs on
#                    Hopper): device-only img/s at batch 32..256 beside bench's FP16, top-1 agreement with the CPU's
#                    int8 (its log goes into bench.log)
#   serve            `resnet serve` with resnet50 FP16 on the GPU under bench:serve's load generator (client
#                    processes, perf_analyzer's concurrency mode): each concurrent client's row, then uint8,
#                    shm, jpeg and fp32 inputs at rising concurrency, against the serving targets (its log
#                    goes into bench.log)
#   torch_bench      the same in PyTorch eager, torch.compile FP16 at batch 256 and 1, the FP16 matmul peak
# then writes OUTDIR/summary.json and OUTDIR/summary.md and prints the summary table last.
#
#   bash scripts/gpu-check.sh OUTDIR
#
# Every part runs in its own process under `timeout` and writes its log to OUTDIR/<part>.log; a part that
# fails or runs out of time is reported and the rest go on. Exit status: 0 when every check passed (or was
# skipped: no GPU here), 1 when a check or a part failed, 2 when the check itself could not run (no node).
# Targets missed are reported in the table, not in the exit status.
#
# Environment (all optional):
#   GPU_CHECK_BUDGET=345        seconds for everything; the parts share what is left as they go
#   GPU_CHECK_PYTHON=python3    the Python that has torch and torchvision
#   GPU_CHECK_PARTS=ops,torch_reference,parity,bench,int8,serve,torch_bench   a subset, to rerun some (env always runs)
#   GPU_CHECK_DRY_RUN=cpu       rehearse the check's own code with the CPU backend standing in for the GPU
#   GPU_CHECK_VARIANTS, GPU_CHECK_REFERENCE_MODELS, GPU_CHECK_DTYPES, GPU_CHECK_BATCHES  comma lists
#   GPU_CHECK_INT8_BATCHES=256,32,64,128   the int8 part's batches
#   GPU_CHECK_LEGACY_CELLS=float16:1,float16:256   bench cells measured again with the graph API off
#   RESNET_CUDNN_GRAPH=0        every conv on cuDNN's legacy API (passed on to the library; so is
#                               RESNET_CUDNN_GRAPH_BUDGET_MS, the graph plans' build time per compile)
#   GPU_CHECK_GRAPH_BUDGET_MS=5000   that build time per compile in the ops, parity and serve parts
#   GPU_CHECK_SERVE_CLIENTS     the load generator's client processes (default one per 4 CPUs, 1..4)
#   GPU_CHECK_PHOTOS=DIR        photos for the serve part's JPEG corpus (default .device/images, which
#                               pack-device.sh fills, else images/ of RESNET_CUDNN_DATA or
#                               ../shared/data; none: jpeg is skipped)
#   GPU_CHECK_WORK=DIR          scratch (weights, partial results); a fresh temporary folder, removed at the end
#   RESNET_CUDNN_PATH           passed on to our loader; when unset and our loader finds no cuDNN, the script
#                               tries PyTorch's nvidia/cudnn/lib and says so
# A node binary packed as .device/node.xz (scripts/gpu-check/pack-device.sh) is used when node is not on
# PATH, .device/lib (oneDNN) is put on LD_LIBRARY_PATH, and .device/node_modules.tar.xz is unpacked when
# there is no node_modules/: see README.md, "GPU check".
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
GC="$HERE/gpu-check"

if [ $# -lt 1 ] || [ -z "$1" ]; then
  echo "usage: bash scripts/gpu-check.sh OUTDIR" >&2
  exit 2
fi
mkdir -p "$1" || { echo "gpu-check: cannot create $1" >&2; exit 2; }
OUT=$(cd "$1" && pwd)

START=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET:-345}
DEADLINE=$((START + BUDGET))
PY=${GPU_CHECK_PYTHON:-python3}
PARTS=${GPU_CHECK_PARTS:-ops,torch_reference,parity,bench,int8,serve,torch_bench}
if [ -n "${GPU_CHECK_WORK:-}" ]; then
  WORK=$GPU_CHECK_WORK
  mkdir -p "$WORK"
  REMOVE_WORK=0
else
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
  REMOVE_WORK=1
fi
WORK=$(cd "$WORK" && pwd)
: >"$WORK/parts.tsv"
# A rerun into the same OUTDIR starts afresh.
rm -f "$OUT"/{env,ops,torch_reference,parity,bench,torch_bench}.log "$OUT"/summary.{json,md}
# torch.compile's caches live in the scratch folder, so the prewarm's compile serves the timed one.
export TORCHINDUCTOR_CACHE_DIR="$WORK/inductor"
export PYTHONUNBUFFERED=1
# No __pycache__ in the checkout.
export PYTHONDONTWRITEBYTECODE=1

now() { date +%s; }
elapsed() { echo $(($(now) - START)); }
log() { echo "[gpu-check +$(elapsed)s] $*"; }
wants() { [[ ",$PARTS," == *",$1,"* ]]; }
# parts.tsv: name, status (ok|failed|timeout|skipped), exit status, seconds, note
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$WORK/parts.tsv"; }
status_of() { case "$1" in 0) echo ok ;; 124 | 137) echo timeout ;; *) echo failed ;; esac; }

# The least time each part needs to be worth starting, in the order they run (summary last): a part
# leaves that much to every later part that will run. The int8 part reserves nothing: it runs on what the
# parts before it leave (issue 15's row is extra to issue 3's check, whose budget stays as it was).
PART_ORDER=(ops parity bench int8 serve torch_bench summary)
declare -A MIN_SECONDS=([ops]=30 [parity]=20 [bench]=40 [int8]=0 [serve]=40 [torch_bench]=60 [summary]=15)
# A part that logs into another's file (OUTDIR holds at most eight files).
declare -A PART_LOG=([serve]=bench [int8]=bench)
reserve_after() {
  local name=$1 later=0 sum=0 p
  for p in "${PART_ORDER[@]}"; do
    if [ "$later" = 1 ] && { [ "$p" = summary ] || { wants "$p" && [ -z "${SKIP_REASON[$p]:-}" ]; }; }; then
      sum=$((sum + MIN_SECONDS[$p]))
    fi
    [ "$p" = "$name" ] && later=1
  done
  echo "$sum"
}

# Seconds a part may take: its cap, or what is left after the later parts' reserve, whichever is less.
part_time() {
  local cap=$1 reserve=$2 left
  left=$((DEADLINE - $(now) - reserve))
  if [ "$left" -lt "$cap" ]; then echo "$left"; else echo "$cap"; fi
}

# run_part NAME CAP COMMAND...: runs COMMAND under timeout with its output on the console and in
# OUTDIR/NAME.log (or its PART_LOG's); an argument @BUDGET@ becomes the seconds the part may use (a little
# under its limit).
run_part() {
  local name=$1 cap=$2 reserve
  shift 2
  reserve=$(reserve_after "$name")
  if ! wants "$name"; then
    record "$name" skipped "" "" "not in GPU_CHECK_PARTS"
    return
  fi
  if [ -n "${SKIP_REASON[$name]:-}" ]; then
    log "part $name: skipped: ${SKIP_REASON[$name]}"
    record "$name" skipped "" "" "${SKIP_REASON[$name]}"
    return
  fi
  local t
  t=$(part_time "$cap" "$reserve")
  if [ "$t" -lt 10 ]; then
    log "part $name: skipped: out of time (${t} s left for it)"
    record "$name" skipped "" "" "out of time: the check's budget (GPU_CHECK_BUDGET=$BUDGET s) was spent"
    return
  fi
  local args=() a
  for a in "$@"; do args+=("${a//@BUDGET@/$((t - 6))}"); done
  log "part $name: up to ${t} s"
  local begin rc
  begin=$(now)
  timeout -k 10 "$t" "${args[@]}" 2>&1 | tee -a "$OUT/${PART_LOG[$name]:-$name}.log"
  rc=${PIPESTATUS[0]}
  record "$name" "$(status_of "$rc")" "$rc" "$(($(now) - begin))" "$([ "$rc" = 124 ] || [ "$rc" = 137 ] && echo "killed at its ${t} s limit")"
  log "part $name: $(status_of "$rc") (exit $rc) after $(($(now) - begin)) s"
}

# start_background NAME LOG CAP COMMAND...: like run_part, off the console (into OUTDIR/LOG.log), not
# waited for. (OUTDIR holds at most eight files, so that all of it comes back from a device machine.)
declare -A BG_BEGIN BG_LIMIT BG_LOG
start_background() {
  local name=$1 logname=$2 cap=$3
  shift 3
  local t
  t=$(part_time "$cap" 0)
  BG_BEGIN[$name]=$(now)
  BG_LIMIT[$name]=$t
  BG_LOG[$name]="$OUT/$logname.log"
  log "part $name: started in the background, up to ${t} s (log: $logname.log)"
  (
    timeout -k 10 "$t" "$@" >>"${BG_LOG[$name]}" 2>&1 &
    echo $! >"$WORK/$name.pid"
    wait $!
    echo $? >"$WORK/$name.rc"
  ) &
  echo $! >"$WORK/$name.waiter"
}

# finish_background NAME [stop]: waits for it (or, with stop, ends it first), records it, prints its log.
finish_background() {
  local name=$1 how=${2:-wait} rc note=""
  [ -f "$WORK/$name.waiter" ] || return
  if [ "$how" = stop ] && [ ! -f "$WORK/$name.rc" ]; then
    # Our own timeout process: it passes the signal on to everything it started.
    kill -TERM "$(cat "$WORK/$name.pid")" 2>/dev/null
    note="stopped so that it would not share the GPU with the benchmarks"
  fi
  wait "$(cat "$WORK/$name.waiter")" 2>/dev/null
  rc=$(cat "$WORK/$name.rc" 2>/dev/null || echo 1)
  [ -z "$note" ] && { [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && note="killed at its ${BG_LIMIT[$name]} s limit"
  local status
  status=$(status_of "$rc")
  # A prewarm stopped on purpose has not failed: the timed compile just starts colder.
  [ "$how" = stop ] && [ "$status" != ok ] && status=skipped
  record "$name" "$status" "$rc" "$(($(now) - BG_BEGIN[$name]))" "$note"
  log "part $name: $status (exit $rc) after $(($(now) - BG_BEGIN[$name])) s${note:+: $note}; its log:"
  sed 's/^/  | /' "${BG_LOG[$name]}" 2>/dev/null | tail -n 40
  rm -f "$WORK/$name.waiter"
}

declare -A SKIP_REASON

log "output: $OUT; scratch: $WORK; budget: ${BUDGET} s"
[ -n "${GPU_CHECK_DRY_RUN:-}" ] && log "DRY RUN: the $GPU_CHECK_DRY_RUN backend stands in for the GPU; nothing measured here is a GPU figure"

# ---- prerequisites: node, dist/, the addon -------------------------------------------------------------
NODE_PROBLEM=""
if ! command -v node >/dev/null 2>&1 && [ -f "$ROOT/.device/node.xz" ]; then
  mkdir -p "$WORK/bin"
  if xz -dc "$ROOT/.device/node.xz" >"$WORK/bin/node" && chmod +x "$WORK/bin/node"; then
    export PATH="$WORK/bin:$PATH"
    log "node: unpacked .device/node.xz"
  fi
fi
# The runtime dependencies dist/ imports (sharp, protobufjs, fastify, …), where this checkout has none.
if [ -f "$ROOT/.device/node_modules.tar.xz" ] && [ ! -d "$ROOT/node_modules/sharp" ]; then
  if xz -dc "$ROOT/.device/node_modules.tar.xz" | tar -C "$ROOT" -xf -; then
    log "node_modules: unpacked .device/node_modules.tar.xz"
  else
    log "node_modules: unpacking .device/node_modules.tar.xz failed"
  fi
fi
# Libraries the addon links that this machine may lack (oneDNN): for the Node parts only, so that
# PyTorch keeps its own.
NODE_LIBS=""
if [ -d "$ROOT/.device/lib" ]; then
  mkdir -p "$WORK/lib"
  for packed in "$ROOT"/.device/lib/*.xz; do
    [ -f "$packed" ] && xz -dc "$packed" >"$WORK/lib/$(basename "$packed" .xz)"
  done
  NODE_LIBS="$WORK/lib"
  log "the Node parts get LD_LIBRARY_PATH=$NODE_LIBS first: $(ls "$WORK/lib" | tr '\n' ' ')"
fi
if ! command -v node >/dev/null 2>&1; then
  NODE_PROBLEM="node is not on PATH (install Node.js 20+, or pack one with scripts/gpu-check/pack-device.sh and carry .device)"
elif ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  NODE_PROBLEM="node $(node --version) is too old: Node.js 20 or later is needed"
elif [ ! -f "$ROOT/dist/index.js" ]; then
  NODE_PROBLEM="dist/index.js is missing: run npm run build (and carry dist/ to this machine)"
elif [ ! -f "$ROOT/build/Release/resnet_cudnn.node" ] && [ -z "${RESNET_CUDNN_ADDON:-}" ]; then
  NODE_PROBLEM="build/Release/resnet_cudnn.node is missing: run npm run build (and carry it to this machine)"
fi
if [ -n "$NODE_PROBLEM" ]; then
  log "cannot run the Node parts: $NODE_PROBLEM"
  for p in ops parity bench int8 serve; do SKIP_REASON[$p]="$NODE_PROBLEM"; done
else
  log "node $(node --version) at $(command -v node)"
fi
# The Node part's command, with the packed libraries first on the library path (then the caller's).
# `extra` goes between the two (a cuDNN folder to try); rebuilt when the environment changes.
node_command() {
  local extra=${1:-} path
  path="${NODE_LIBS}${NODE_LIBS:+${extra:+:}}${extra}"
  path="${path}${path:+${LD_LIBRARY_PATH:+:}}${LD_LIBRARY_PATH:-}"
  if [ -n "$path" ]; then NODE=(env "LD_LIBRARY_PATH=$path" node "$GC/check.mjs"); else NODE=(node "$GC/check.mjs"); fi
}
node_command

# ---- env --------------------------------------------------------------------------------------------------
TORCH_STATUS="none: $PY did not report whether it has torch (see env.log)"
env_part() {
  echo "== nvidia-smi"
  if command -v nvidia-smi >/dev/null 2>&1; then
    timeout 20 nvidia-smi
    timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,pci.bus_id --format=csv,noheader >"$WORK/nvidia_smi.csv"
  else
    echo "nvidia-smi: not found"
  fi
  echo "== python ($PY)"
  if command -v "$PY" >/dev/null 2>&1; then
    timeout 60 "$PY" "$GC/torch_env.py" "$WORK"
  else
    echo "$PY: not found"
    echo "none: $PY was not found (set GPU_CHECK_PYTHON to a Python with torch and torchvision)" >"$WORK/torch_status"
  fi
  echo "== our addon"
  [ -n "$NODE_PROBLEM" ] && { echo "skipped: $NODE_PROBLEM"; return 0; }
  timeout 60 "${NODE[@]}" env --work "$WORK" --label "as started${RESNET_CUDNN_PATH:+ (RESNET_CUDNN_PATH=$RESNET_CUDNN_PATH)}" || return 1
  if [ "$(cat "$WORK/cuda_available" 2>/dev/null)" != yes ] && [ -z "${RESNET_CUDNN_PATH:-}" ] && [ -s "$WORK/cudnn_dir.txt" ]; then
    local dir reason
    dir=$(head -n 1 "$WORK/cudnn_dir.txt")
    echo "== our loader found no usable cuDNN on its own; trying PyTorch's: RESNET_CUDNN_PATH=$dir"
    if RESNET_CUDNN_PATH="$dir" timeout 60 "${NODE[@]}" env --work "$WORK" --label "RESNET_CUDNN_PATH=$dir (set by gpu-check.sh)" &&
      [ "$(cat "$WORK/cuda_available")" = yes ]; then
      echo "RESNET_CUDNN_PATH=$dir" >"$WORK/cudnn_env"
      echo "gpu-check.sh set RESNET_CUDNN_PATH=$dir (PyTorch's cuDNN wheel): the loader's own search found none usable" >"$WORK/cudnn_note.txt"
    else
      echo "== still unavailable; trying with LD_LIBRARY_PATH=$dir as well"
      node_command "$dir"
      if RESNET_CUDNN_PATH="$dir" timeout 60 "${NODE[@]}" env --work "$WORK" --label "RESNET_CUDNN_PATH and LD_LIBRARY_PATH=$dir (set by gpu-check.sh)" &&
        [ "$(cat "$WORK/cuda_available")" = yes ]; then
        printf 'RESNET_CUDNN_PATH=%s\nLD_LIBRARY_PATH=%s\n' "$dir" "$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" >"$WORK/cudnn_env"
        echo "gpu-check.sh set RESNET_CUDNN_PATH and LD_LIBRARY_PATH to $dir (PyTorch's cuDNN wheel): the loader's own search found none usable, nor RESNET_CUDNN_PATH alone" >"$WORK/cudnn_note.txt"
      fi
    fi
  fi
  return 0
}
# Always run: the other parts depend on what it finds.
log "part env"
env_begin=$(now)
env_part 2>&1 | tee -a "$OUT/env.log"
rc=${PIPESTATUS[0]}
record env "$(status_of "$rc")" "$rc" "$(($(now) - env_begin))" ""
if [ -f "$WORK/cudnn_env" ]; then
  while IFS='=' read -r key value; do
    export "$key=$value"
    log "for the remaining parts: $key=$value"
  done <"$WORK/cudnn_env"
  node_command
fi
[ -f "$WORK/torch_status" ] && TORCH_STATUS=$(head -n 1 "$WORK/torch_status")
case "$TORCH_STATUS" in
  cuda) ;;
  cpu) SKIP_REASON[torch_bench]="PyTorch sees no GPU (torch.cuda.is_available() is False)" ;;
  *)
    SKIP_REASON[torch_reference]="${TORCH_STATUS#none: }"
    SKIP_REASON[torch_bench]="${TORCH_STATUS#none: }"
    ;;
esac

# ---- torch_reference and the torch.compile prewarm in the background, ops in the foreground ---------------
REFERENCE_MODELS=${GPU_CHECK_REFERENCE_MODELS:-resnet50,resnet18,resnext50_32x4d}
if wants torch_reference && [ -z "${SKIP_REASON[torch_reference]:-}" ]; then
  start_background torch_reference torch_reference 90 "$PY" "$GC/torch_reference.py" "$WORK/torch_ref" --models "$REFERENCE_MODELS" \
    ${GPU_CHECK_REFERENCE_SIZE:+--size "$GPU_CHECK_REFERENCE_SIZE"}
elif ! wants torch_reference; then
  record torch_reference skipped "" "" "not in GPU_CHECK_PARTS"
else
  log "part torch_reference: skipped: ${SKIP_REASON[torch_reference]}"
  record torch_reference skipped "" "" "${SKIP_REASON[torch_reference]}"
fi
# torch.compile is slow to compile; compiling it now, while nothing is timed, fills the inductor cache so
# the timed compile in torch_bench fits its budget. Stopped before our benchmark starts.
if wants torch_bench && [ -z "${SKIP_REASON[torch_bench]:-}" ] && [[ ",${GPU_CHECK_DTYPES:-float16}," == *",float16,"* ]]; then
  start_background torch_compile_prewarm torch_bench 240 bash -c '"$0" "$1" compile "$2/prewarm_default_b256.json" --batch 256 --mode default --warm-only; "$0" "$1" compile "$2/prewarm_reduce-overhead_b1.json" --batch 1 --mode reduce-overhead --warm-only' "$PY" "$GC/torch_bench.py" "$WORK"
fi

# The checks compile many executables (every op in four precisions, every variant, three torchvision models):
# each may spend at most GPU_CHECK_GRAPH_BUDGET_MS building graph-API plans (NVRTC), so that an unexpectedly
# slow runtime compile costs checks their graph-API coverage (describe() and the logs say so), not the part.
CHECK_GRAPH_BUDGET=${GPU_CHECK_GRAPH_BUDGET_MS:-${RESNET_CUDNN_GRAPH_BUDGET_MS:-5000}}
run_part ops 120 env RESNET_CUDNN_GRAPH_BUDGET_MS="$CHECK_GRAPH_BUDGET" "${NODE[@]}" ops --work "$WORK" --budget @BUDGET@
finish_background torch_reference
run_part parity 60 env RESNET_CUDNN_GRAPH_BUDGET_MS="$CHECK_GRAPH_BUDGET" "${NODE[@]}" parity --work "$WORK" --budget @BUDGET@
finish_background torch_compile_prewarm stop

# ---- benchmarks --------------------------------------------------------------------------------------------
run_part bench 110 "${NODE[@]}" bench --work "$WORK" --budget @BUDGET@
run_part int8 60 env RESNET_CUDNN_GRAPH_BUDGET_MS="$CHECK_GRAPH_BUDGET" "${NODE[@]}" int8 --work "$WORK" --budget @BUDGET@
# The server compiles resnet50 for 7 batch sizes: each compile's graph-plan building is capped as in ops.
run_part serve 100 env RESNET_CUDNN_GRAPH_BUDGET_MS="$CHECK_GRAPH_BUDGET" "${NODE[@]}" serve --work "$WORK" --budget @BUDGET@
run_part torch_bench 400 "$PY" "$GC/torch_bench.py" bench "$WORK/torch_bench.json" --budget @BUDGET@ \
  --prewarmed "$WORK/prewarm_default_b256.json,$WORK/prewarm_reduce-overhead_b1.json" \
  ${GPU_CHECK_DTYPES:+--dtypes "$GPU_CHECK_DTYPES"} ${GPU_CHECK_BATCHES:+--batches "$GPU_CHECK_BATCHES"}

# ---- the summary: printed last -------------------------------------------------------------------------
log "done in $(elapsed) s; the summary follows (also in $OUT/summary.md and $OUT/summary.json)"
summary_rc=99
if [ -z "$NODE_PROBLEM" ]; then
  timeout -k 5 60 "${NODE[@]}" summary --work "$WORK" --out "$OUT"
  summary_rc=$?
fi
finish() {
  [ "$REMOVE_WORK" = 1 ] && rm -rf "$WORK"
  exit "$1"
}
case "$summary_rc" in
  0) finish 0 ;;
  10) finish 1 ;;
esac
# The Node summary could not run: a plain table from the parts' statuses, still last.
echo
echo "# GPU check: FAIL: no summary (${NODE_PROBLEM:-the summary step exited with status $summary_rc}); logs in $OUT"
echo
echo "| part | status | exit | s | note |"
echo "| --- | --- | --- | --- | --- |"
# (awk, not read: read would merge the empty fields between tabs)
[ -f "$WORK/parts.tsv" ] && awk -F'\t' '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' "$WORK/parts.tsv"
[ -n "$NODE_PROBLEM" ] && finish 2
finish 1
