#!/usr/bin/env bash
# The static checks, each timed: types (lib and tests), lint, the native sources' format, the API docs built
# with warnings as errors, and the docs' @example blocks type-checked against lib/. Runs them all and exits 1
# if any failed, naming which. Needs `npm ci` (and, for the format check, clang-format: bash scripts/setup.sh
# installs both).
set -uo pipefail
cd "$(dirname "$0")/../.."

failed=()
step() {
  local name=$1
  shift
  local start=$SECONDS
  echo "checks: $name"
  if "$@"; then
    echo "checks: $name passed ($((SECONDS - start)) s)"
  else
    echo "checks: $name FAILED ($((SECONDS - start)) s)" >&2
    failed+=("$name")
  fi
}

step typecheck npm run --silent typecheck
step lint npm run --silent lint
step format:check npm run --silent format:check
# typedoc.json sets treatWarningsAsErrors; the output goes to a scratch folder so a check leaves docs/ alone.
docs_out=$(mktemp -d)
trap 'rm -rf "$docs_out"' EXIT
step docs npm run --silent docs -- --out "$docs_out"
step doc-examples node scripts/ci/doc-examples.mjs

if [ ${#failed[@]} -gt 0 ]; then
  echo "checks: failed: ${failed[*]}" >&2
  exit 1
fi
echo "checks: all passed"
