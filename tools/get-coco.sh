#!/usr/bin/env bash
# Downloads MS-COCO 2017 detection data into data/coco/ in the layout psdet reads:
#   data/coco/annotations/instances_{train,val}2017.json
#   data/coco/train2017/*.jpg   (118,287 images, 18 GB)
#   data/coco/val2017/*.jpg     (5,000 images, 0.8 GB)
#
# Usage: tools/get-coco.sh [--val-only] [DEST]      (DEST defaults to data/coco beside this script's project)
# Needs curl (or wget) and unzip, and about 20 GB free (44 GB while the zips are still there).
# Downloads resume where they stopped; zips are checked, unpacked, then deleted.
set -euo pipefail

VAL_ONLY=0
if [[ "${1:-}" == "--val-only" ]]; then VAL_ONLY=1; shift; fi
HERE="$(cd "$(dirname "$0")/.." && pwd)"
DEST="${1:-$HERE/data/coco}"
BASE="http://images.cocodataset.org"

FILES=("annotations/annotations_trainval2017.zip" "zips/val2017.zip")
[[ $VAL_ONLY == 1 ]] || FILES+=("zips/train2017.zip")

need() { command -v "$1" >/dev/null 2>&1 || { echo "get-coco: '$1' is required" >&2; exit 1; }; }
need unzip
if command -v curl >/dev/null 2>&1; then
  fetch() { curl -fL --retry 5 -C - -o "$2" "$1"; }
else
  need wget
  fetch() { wget -c -O "$2" "$1"; }
fi

mkdir -p "$DEST"
cd "$DEST"
for f in "${FILES[@]}"; do
  zip="$(basename "$f")"
  echo "get-coco: $BASE/$f -> $DEST/$zip"
  fetch "$BASE/$f" "$zip"
  unzip -tq "$zip" >/dev/null || { echo "get-coco: $zip is corrupt; delete it and run again" >&2; exit 1; }
  unzip -qo "$zip" -d "$DEST"
  rm -f "$zip"
done

# The annotations zip also holds captions and keypoints; only the instances files are used.
for split in train2017 val2017; do
  if [[ -f "annotations/instances_${split}.json" ]]; then
    n=$(ls "$split" 2>/dev/null | wc -l)
    echo "get-coco: $split: $n images, annotations/instances_${split}.json"
  fi
done
echo "get-coco: done. Train with --data $DEST (or data.root in a config)."
