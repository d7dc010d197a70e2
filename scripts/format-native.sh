#!/usr/bin/env bash
# Formats the native sources (native/**/*.{h,cc,cu,cuh}) with clang-format and the repository's .clang-format:
# in place, or with --check, only reporting the files that differ (exit 1 when one does).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null 2>&1; then
  echo "format-native: clang-format is missing: apt-get install clang-format (bash scripts/setup.sh installs it)" >&2
  exit 1
fi
mode=(-i)
[ "${1:-}" = "--check" ] && mode=(--dry-run -Werror)
find native -type f \( -name '*.h' -o -name '*.cc' -o -name '*.cu' -o -name '*.cuh' \) -print0 | sort -z |
  xargs -0 clang-format --style=file "${mode[@]}"
