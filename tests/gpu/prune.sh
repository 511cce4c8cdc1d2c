#!/usr/bin/env bash
# Deletes what tests/gpu/prune.txt lists from an installed package directory: tests/gpu/prune.sh DIR
set -euo pipefail
dir=$1 list="$(dirname "$0")/prune.txt"
before=$(du -sm "$dir" | cut -f1)
grep -v -e '^#' -e '^$' "$list" | while read -r pattern; do
  find "$dir" -path "$dir/$pattern" -prune -exec rm -rf {} +
done
echo "pruned $dir: ${before} MB -> $(du -sm "$dir" | cut -f1) MB"
