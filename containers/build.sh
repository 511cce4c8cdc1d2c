#!/usr/bin/env bash
# Build the two images and turn them into Enroot squashfs files for Pyxis.
#   containers/build.sh [--out DIR] [--tag TAG] [--dry-run]
# Needs docker (or DOCKER=podman) on a machine that can pull nvcr.io and Docker Hub, and enroot.
# Then set cluster.training_image / cluster.generation_image to the two .sqsh files it prints
# (conf/cluster/dgx_h100_example.yaml shows where).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/containers/sqsh
tag=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo dev)
dry=0
while (( $# )); do
  case $1 in
    --out) out=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --dry-run) dry=1; shift ;;
    *) echo "usage: $0 [--out DIR] [--tag TAG] [--dry-run]" >&2; exit 2 ;;
  esac
done
docker=${DOCKER:-docker}
run() { echo "+ $*"; if (( ! dry )); then "$@"; fi; }

run mkdir -p "$out"
for image in train vllm; do
  name=srlm-nemo-$image:$tag
  run "$docker" build -f "$root/containers/$image.Dockerfile" -t "$name" "$root"
  # the versions the build checked, for the record next to the image
  run "$docker" run --rm --entrypoint cat "$name" /opt/srlm/versions.json
  run rm -f "$out/srlm-nemo-$image.sqsh"
  run enroot import -o "$out/srlm-nemo-$image.sqsh" "dockerd://$name"
done
echo "training_image: $out/srlm-nemo-train.sqsh"
echo "generation_image: $out/srlm-nemo-vllm.sqsh"
