#!/usr/bin/env bash
# Builds deploy/Dockerfile (the CPU image) with buildah and smoke-tests the image with podman, on a machine that
# has no Docker daemon and no access to Docker Hub, only to Debian's package mirror and the npm registry.
#
# On a machine with Docker, do not use this: run `docker build -f deploy/Dockerfile -t resnet-cudnn:cpu .` and
# `docker run` it (deploy/README.md). This script exists because where the Dockerfile was written no registry
# was reachable, so the base images it names are EMULATED here as local images with the same names:
#   debian:bookworm-slim      mmdebstrap --variant=minbase bookworm (merged /usr), with the dpkg excludes of Debian's
#                             official slim images (no man pages, docs, locales)
#   debian:bookworm           the same without the excludes
#   buildpack-deps:bookworm   debian:bookworm + the packages buildpack-deps' curl, scm and full layers install
#                             (ca-certificates, curl, wget, gnupg, git, mercurial (python3), g++, gcc, make, -dev libs)
#   node:20-bookworm(-slim)   buildpack-deps:bookworm (debian:bookworm-slim) + what the official node Dockerfile
#                             adds: user node (uid 1000), /usr/local/bin/node, npm and corepack under
#                             /usr/local/lib/node_modules with their /usr/local/bin links, docker-entrypoint.sh as
#                             ENTRYPOINT. The node binary is THIS machine's node 20 (a NodeSource build, linked
#                             only against glibc and libstdc++), not the nodejs.org build; npm is the version that
#                             node release bundles (from the npm registry); corepack is this machine's; no yarn.
#                             node:20-bookworm also gets this machine's CA bundle as npm's cafile (see node_image).
# So a pass shows that the Dockerfile's own steps (apt packages, npm ci, the native build, the runtime stage, user,
# HEALTHCHECK, stop signal) work on a Debian bookworm base with node 20; it does not test Docker Hub's images.
# It also builds the `onednn` stage of deploy/Dockerfile.cuda (FROM debian:bookworm-slim). Its nvidia/cuda
# (Ubuntu) stages cannot be built without NVIDIA's registry and an Ubuntu mirror, and are not attempted.
#
# Needs root (mmdebstrap, buildah and podman with the overlay driver), `apt-get install buildah podman runc
# mmdebstrap`, node 20 and npm on PATH, curl, and port 8000 free (the container uses the host's network).
# About 10 minutes on 2 cores the first time; the emulated base images are kept and reused on later runs.
# Not run by CI or the test suite.
#
# Usage: deploy/verify/verify-cpu-image.sh [LOG_DIR]      (default /tmp/resnet-cudnn-verify)
#   RESNET_VERIFY_CONTEXT=DIR  build from DIR instead of this checkout (e.g. `git archive HEAD` unpacked there,
#                              when others are editing the working tree); DIR/deploy/Dockerfile is the one built
#   LOG_DIR/*.log        each step's output; LOG_DIR/summary.txt  every check's result
#   LOG_DIR/state/       container storage (about 3 GiB; the emulated base images are reused): delete it when done
set -euo pipefail

log_dir=$(mkdir -p "${1:-/tmp/resnet-cudnn-verify}" && cd "${1:-/tmp/resnet-cudnn-verify}" && pwd)
repo=$(cd "${RESNET_VERIFY_CONTEXT:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)
state="$log_dir/state"
port=8000
container=resnet-cudnn-verify
image=localhost/resnet-cudnn:cpu
mkdir -p "$state"

# Private storage and engine settings, so nothing here touches the host's containers configuration.
cat > "$state/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$state/storage"
runroot = "$state/run"
EOF
# No systemd here: cgroupfs and file-based events. runc, since crun refuses this machine's hybrid cgroups
# (a v2 controller beside v1). Limits at most this shell's: podman's defaults (nofile 1048576) need
# CAP_SYS_RESOURCE, which this sandbox does not grant.
cat > "$state/containers.conf" <<EOF
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
EOF
export CONTAINERS_STORAGE_CONF="$state/storage.conf" CONTAINERS_CONF="$state/containers.conf"

summary="$log_dir/summary.txt"
: > "$summary"
note() { echo "$*" | tee -a "$summary"; }
pass() { note "PASS  $*"; }
fail() { note "FAIL  $*"; failures=$((failures + 1)); }
failures=0

# Runs "$@" with its output in $log_dir/$1.log, timed; stops the script when it fails.
step() {
  local name=$1; shift
  local start=$SECONDS
  echo "== $name ($(date +%T)) -> $log_dir/$name.log"
  if ! "$@" > "$log_dir/$name.log" 2>&1; then
    tail -n 30 "$log_dir/$name.log"
    note "FAIL  step $name (exit, after $((SECONDS - start)) s); see $log_dir/$name.log"
    exit 1
  fi
  note "ok    step $name: $((SECONDS - start)) s"
}

have_image() { podman image exists "$1"; }

# ---- emulated base images -----------------------------------------------------------------------------------
mirror_sources=(
  "deb http://deb.debian.org/debian bookworm main"
  "deb http://deb.debian.org/debian bookworm-updates main"
  "deb http://deb.debian.org/debian-security bookworm-security main"
)
# What debuerreotype's slimify writes into Debian's official -slim images (/etc/dpkg/dpkg.cfg.d/docker).
slim_excludes=(
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/groff/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/linda/*' --dpkgopt='path-exclude=/usr/share/lintian/overrides/*'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias'
  --dpkgopt='path-exclude=/usr/share/man/*'
)

debian_image() {  # name, extra mmdebstrap options...
  local name=$1; shift
  local tarball="$state/${name//[:\/]/_}.tar"
  # merged-usr hook: /usr merged as in Debian's images, without the usrmerge package (and the perl it pulls in).
  mmdebstrap --mode=root --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr "$@" \
    bookworm "$tarball" "${mirror_sources[@]}"
  podman import --change 'CMD ["bash"]' "$tarball" "docker.io/library/$name"
  rm -f "$tarball"
}

buildpack_deps_image() {
  local ctx="$state/buildpack-deps"
  mkdir -p "$ctx"
  # The three layers of buildpack-deps' bookworm Dockerfiles (curl, scm, full), package lists as they are there.
  cat > "$ctx/Containerfile" <<'EOF'
FROM docker.io/library/debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl gnupg dirmngr netbase wget \
 && rm -rf /var/lib/apt/lists/*
RUN apt-get update && apt-get install -y --no-install-recommends git mercurial openssh-client subversion procps \
 && rm -rf /var/lib/apt/lists/*
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    autoconf automake bzip2 default-libmysqlclient-dev dpkg-dev file g++ gcc imagemagick libbz2-dev libc6-dev \
    libcurl4-openssl-dev libdb-dev libevent-dev libffi-dev libgdbm-dev libglib2.0-dev libgmp-dev libjpeg-dev \
    libkrb5-dev liblzma-dev libmagickcore-dev libmagickwand-dev libmaxminddb-dev libncurses5-dev libncursesw5-dev \
    libpng-dev libpq-dev libreadline-dev libsqlite3-dev libssl-dev libtool libwebp-dev libxml2-dev libxslt-dev \
    libyaml-dev make patch unzip xz-utils zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
EOF
  buildah bud --isolation chroot --pull=never --format docker --layers=false \
    -f "$ctx/Containerfile" -t docker.io/library/buildpack-deps:bookworm "$ctx"
}

node_image() {  # tag, base image, [with-host-ca]
  local ctx="$state/node-context"
  rm -rf "$ctx" && mkdir -p "$ctx/node_modules"
  cp "$(readlink -f "$(command -v node)")" "$ctx/node"
  # The npm that node's release bundles (this machine's may have been upgraded since), from the npm registry.
  if [ ! -f "$state/npm-$node_npm_version.tgz" ]; then
    (cd "$state" && npm pack --silent "npm@$node_npm_version" > /dev/null)
  fi
  mkdir -p "$ctx/node_modules/npm"
  tar -xzf "$state/npm-$node_npm_version.tgz" -C "$ctx/node_modules/npm" --strip-components=1
  local npm_dir; npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  if [ -d "$(dirname "$npm_dir")/corepack" ]; then cp -a "$(dirname "$npm_dir")/corepack" "$ctx/node_modules/"; fi
  # The official image ships node's headers under /usr/local/include/node.
  local headers; headers="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")/include/node"
  if [ -d "$headers" ]; then mkdir -p "$ctx/include" && cp -a "$headers" "$ctx/include/node"; else mkdir -p "$ctx/include"; fi
  # The official image's entrypoint: a first argument that is not a command runs under node.
  cat > "$ctx/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
EOF
  chmod 755 "$ctx/docker-entrypoint.sh"
  # Where HTTPS goes through an intercepting proxy (as where this was written), npm needs that proxy's CA: for the
  # build stage's base only, this machine's CA bundle and a global npmrc naming it (what a registry behind a
  # public CA needs no help with). The runtime base, and so the image, is left without.
  mkdir -p "$ctx/etc"
  if [ "${3:-}" = with-host-ca ]; then
    cp "$host_ca" "$ctx/etc/verify-host-ca.crt"
    echo "cafile=/usr/local/etc/verify-host-ca.crt" > "$ctx/etc/npmrc"
  fi
  cat > "$ctx/Containerfile" <<EOF
FROM $2
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
ENV NODE_VERSION=$(node -p 'process.versions.node')
COPY node /usr/local/bin/node
COPY node_modules/ /usr/local/lib/node_modules/
COPY include/ /usr/local/include/
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && if [ -d /usr/local/lib/node_modules/corepack ]; then ln -s ../lib/node_modules/corepack/dist/corepack.js /usr/local/bin/corepack; fi \\
 && ln -s /usr/local/bin/node /usr/local/bin/nodejs \\
 && node --version && npm --version
COPY docker-entrypoint.sh /usr/local/bin/
$(if [ "${3:-}" = with-host-ca ]; then echo "COPY etc/ /usr/local/etc/"; fi)
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["node"]
EOF
  buildah bud --isolation chroot --pull=never --format docker --layers=false -f "$ctx/Containerfile" -t "$1" "$ctx"
}

node_npm_version=10.8.2   # what node 20.20 bundles (its CHANGELOG: "upgrade npm to 10.8.2")
host_ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
have_image docker.io/library/debian:bookworm-slim || step base-debian-slim debian_image debian:bookworm-slim "${slim_excludes[@]}"
have_image docker.io/library/debian:bookworm || step base-debian debian_image debian:bookworm
have_image docker.io/library/buildpack-deps:bookworm || step base-buildpack-deps buildpack_deps_image
have_image docker.io/library/node:20-bookworm-slim \
  || step base-node-slim node_image docker.io/library/node:20-bookworm-slim docker.io/library/debian:bookworm-slim
have_image docker.io/library/node:20-bookworm \
  || step base-node node_image docker.io/library/node:20-bookworm docker.io/library/buildpack-deps:bookworm \
    "$([ -f "$host_ca" ] && echo with-host-ca)"

# ---- the image: deploy/Dockerfile as it is, context = the repository root -----------------------------------
# buildah reads deploy/Dockerfile.dockerignore for -f deploy/Dockerfile, as BuildKit does. Docker format, since
# the OCI image config has no HEALTHCHECK.
build_cpu_image() {
  buildah bud --isolation chroot --pull=never --format docker --layers \
    -f "$repo/deploy/Dockerfile" -t "$image" "$repo"
}
step build-cpu-image build_cpu_image

# ---- the first stage of deploy/Dockerfile.cuda --------------------------------------------------------------
build_onednn_stage() {
  buildah bud --isolation chroot --pull=never --format docker --layers --target onednn \
    -f "$repo/deploy/Dockerfile.cuda" -t localhost/resnet-cudnn:cuda-onednn-stage "$repo"
  podman run --rm --entrypoint sh localhost/resnet-cudnn:cuda-onednn-stage -c \
    'find /opt/onednn -maxdepth 4 | sort | head -n 40; ls -l /opt/onednn/lib/x86_64-linux-gnu/'
}
step build-cuda-onednn-stage build_onednn_stage

# ---- the image, inspected -----------------------------------------------------------------------------------
for name in "$image" docker.io/library/node:20-bookworm-slim docker.io/library/node:20-bookworm \
  localhost/resnet-cudnn:cuda-onednn-stage; do
  note "size  $name: $(podman image inspect --format '{{.Size}}' "$name" | awk '{printf "%.0f MB", $1 / 1e6}')"
done
podman image inspect --format '{{json .Config}}' "$image" > "$log_dir/image-config.json"
podman image inspect --format '{{json .HealthCheck}}' "$image" > "$log_dir/image-healthcheck.json"
note "info  image config: $(cat "$log_dir/image-config.json")"
if grep -q '"CMD"' "$log_dir/image-healthcheck.json"; then pass "image HEALTHCHECK: $(cat "$log_dir/image-healthcheck.json")"
else fail "image has no HEALTHCHECK (needs --format docker): $(cat "$log_dir/image-healthcheck.json")"; fi
compilers=$(podman run --rm --entrypoint sh "$image" -c \
  'for c in cc gcc g++ c++ cmake make nvcc; do command -v $c || true; done; ls /usr/lib/gcc/x86_64-linux-gnu/*/cc1plus 2>/dev/null || true')
if [ -z "$compilers" ]; then pass "no compiler, cmake or make in the runtime image"; else fail "tools in the runtime image: $compilers"; fi
# The addon's shared libraries all resolve in the runtime image (ldd: no "not found").
podman run --rm --entrypoint sh "$image" -c 'ldd /app/build/Release/resnet_cudnn.node' > "$log_dir/addon-ldd.log" 2>&1 || true
if grep -q libdnnl "$log_dir/addon-ldd.log" && ! grep -q 'not found' "$log_dir/addon-ldd.log"; then
  pass "addon's libraries resolve: $(grep -o 'libdnnl[^ ]* => [^ ]*' "$log_dir/addon-ldd.log")"
else fail "addon's libraries: $(cat "$log_dir/addon-ldd.log")"; fi

# ---- the server, running ------------------------------------------------------------------------------------
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  fail "port $port is taken on this machine; free it and run again"; exit 1
fi
podman rm -f "$container" > /dev/null 2>&1 || true
# resnet18 without named weights: no internet for the download here, so random weights (the server warns).
podman run -d --name "$container" --network host "$image" resnet serve --model resnet18 --port "$port" > /dev/null
started=$SECONDS
ready=""
while [ $((SECONDS - started)) -lt 300 ]; do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/health/ready")" = 200 ]; then ready=1; break; fi
  if [ "$(podman inspect --format '{{.State.Running}}' "$container")" != true ]; then break; fi
  sleep 2
done
podman logs "$container" > "$log_dir/server-start.log" 2>&1
if [ -n "$ready" ]; then pass "ready after $((SECONDS - started)) s"; else
  fail "not ready after $((SECONDS - started)) s"; tail -n 30 "$log_dir/server-start.log"; exit 1; fi
note "info  server log: $(grep -iE 'warn|random|listen' "$log_dir/server-start.log" | head -n 5 | tr '\n' ' ')"

url="http://127.0.0.1:$port"
for route in /v2/health/live /v2/health/ready; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$url$route")
  if [ "$code" = 200 ]; then pass "GET $route: $code"; else fail "GET $route: $code"; fi
done
metadata=$(curl -s "$url/v2/models/resnet18")
if node -e 'const m = JSON.parse(process.argv[1]); process.exit(m.name === "resnet18" && m.inputs[0].name === "input" ? 0 : 1)' "$metadata"; then
  pass "GET /v2/models/resnet18: $metadata"; else fail "GET /v2/models/resnet18: $metadata"; fi

node -e '
  const data = Array.from({ length: 3 * 224 * 224 }, (_, i) => Math.sin(i) / 2);
  process.stdout.write(JSON.stringify({ id: "verify-1",
    inputs: [{ name: "input", shape: [1, 3, 224, 224], datatype: "FP32", data }], outputs: [{ name: "output" }] }));
' > "$state/infer-request.json"
code=$(curl -s -o "$log_dir/infer-response.json" -w '%{http_code}' -H 'content-type: application/json' \
  --data-binary @"$state/infer-request.json" "$url/v2/models/resnet18/infer")
shape=$(node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const o = r.outputs.find((x) => x.name === "output");
  console.log(JSON.stringify({ id: r.id, name: o.name, datatype: o.datatype, shape: o.shape, values: o.data.length,
    first: o.data.slice(0, 3) }));
' "$log_dir/infer-response.json" 2>&1 || true)
if [ "$code" = 200 ] && [[ "$shape" == *'"shape":[1,1000]'* ]] && [[ "$shape" == *'"values":1000'* ]]; then
  pass "POST /v2/models/resnet18/infer (FP32 JSON [1,3,224,224]): $code $shape"
else fail "POST /v2/models/resnet18/infer: $code $shape $(head -c 300 "$log_dir/infer-response.json")"; fi

curl -s "$url/metrics" > "$log_dir/metrics.txt"
if grep -q '^nv_inference_count{' "$log_dir/metrics.txt"; then
  pass "GET /metrics: $(grep '^nv_inference_count{' "$log_dir/metrics.txt")"; else fail "GET /metrics: no nv_inference_count"; fi

# The server is PID 1 (docker-entrypoint.sh execs it) and runs as uid 10001.
proc=$(podman exec "$container" sh -c 'echo "pid1=$(tr "\0" " " < /proc/1/cmdline)"; grep -E "^(Uid|Gid):" /proc/1/status | tr -s "\t" " "')
if [[ "$proc" == *"Uid: 10001 10001 10001 10001"* ]]; then pass "server process: $(echo "$proc" | tr '\n' ';')"
else fail "server process: $proc"; fi

# The image's HEALTHCHECK, run by podman, and its command run by hand (exit status 0 = healthy).
if out=$(podman healthcheck run "$container" 2>&1); then pass "podman healthcheck run: exit 0 ${out}"
else fail "podman healthcheck run: $out"; fi
mapfile -d '' -t health_cmd < <(node -e '
  const t = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).Test;
  if (t[0] !== "CMD") throw new Error("not an exec-form HEALTHCHECK: " + t[0]);
  process.stdout.write(t.slice(1).join("\0") + "\0");
' "$log_dir/image-healthcheck.json")
if podman exec "$container" "${health_cmd[@]}"; then pass "HEALTHCHECK command by podman exec: exit 0 (${health_cmd[*]})"
else fail "HEALTHCHECK command by podman exec: ${health_cmd[*]}"; fi

# SIGTERM (the image's STOPSIGNAL): the server drains and exits 0, well within the 35 s the README gives it.
stop_start=$SECONDS
podman stop -t 35 "$container" > /dev/null
stop_seconds=$((SECONDS - stop_start))
exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$container")
podman logs "$container" > "$log_dir/server.log" 2>&1
if [ "$exit_code" = 0 ] && [ "$stop_seconds" -lt 35 ]; then pass "podman stop: exit code $exit_code after $stop_seconds s"
else fail "podman stop: exit code $exit_code after $stop_seconds s"; fi
note "info  server log tail: $(tail -n 3 "$log_dir/server.log" | tr '\n' ' ')"
podman rm "$container" > /dev/null

note "storage: $state ($(du -sh "$state" | cut -f1))"
if [ "$failures" -gt 0 ]; then note "$failures check(s) failed"; exit 1; fi
note "all checks passed"
