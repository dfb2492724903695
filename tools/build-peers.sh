#!/usr/bin/env bash
# Builds the COCO-evaluation peers (pycocotools 2.0.11, faster-coco-eval 1.7.1) into DEST with ../shared/peers/build.sh,
# from a writable copy of the sources, where the link cocoapi/PythonAPI/common -> ../common is restored when the
# copy holds it as a plain file naming its target (as a checkout without symlinks does).
# Usage: tools/build-peers.sh DEST [PEERS_DIR]   (PEERS_DIR defaults to ../shared/peers from the repo root)
set -euo pipefail
DEST="${1:?usage: build-peers.sh DEST [PEERS_DIR]}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PEERS="${2:-$ROOT/../shared/peers}"
[ -f "$PEERS/build.sh" ] || { echo "build-peers: $PEERS/build.sh not found (the peers' sources)" >&2; exit 2; }
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cp -r "$PEERS" "$work/peers"
chmod -R u+w "$work/peers"
link="$work/peers/cocoapi/PythonAPI/common"
if [ -f "$link" ] && [ ! -L "$link" ]; then
  target="$(tr -d '\n' < "$link")"
  rm "$link"; ln -s "$target" "$link"
fi
mkdir -p "$DEST"
bash "$work/peers/build.sh" "$DEST"
