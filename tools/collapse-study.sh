#!/usr/bin/env bash
# The small collapse study of docs/collapse.md, on the embedded shapes set, on a CPU (wasm backend):
# a grid (BN / psBN x SGD / Adam x lr 0.003 / 0.03, 100 iterations each), then the revival study from the
# BN + Adam lr 0.03 checkpoint (fine-tuned 100 iterations with Adam lr 0.003 under psBN and under BN), and again
# from the same checkpoint with 25% of the ReLU-feeding backbone norm channels collapsed on purpose (--induce-collapse).
# Resumable: run it again after an interruption and finished runs are skipped.
#
#   tools/collapse-study.sh [OUT_DIR]      (default work_dirs/collapse-study)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-work_dirs/collapse-study}"
config=models/retinanet_r18_collapse_shapes.json
npx tsx src/cli/study-det.ts grid --out "$out" --config "$config" --norms bn,psbn --optimizers sgd,adam --lrs 0.003,0.03
npx tsx src/cli/study-det.ts revive "$out/runs/bn_adam_lr0.03_frozen0" --out "$out" --config "$config" \
  --norms psbn,bn --checkpoint-norm bn --set solver.optimizer=adam --set solver.baseLr=0.003
echo "reports: $out/report.md $out/revival.md"
# The controlled revival: the same start with 25% of the channels of every ReLU-feeding backbone norm collapsed.
npx tsx src/cli/study-det.ts revive "$out/runs/bn_adam_lr0.03_frozen0" --out "$out/induced" --config "$config" \
  --norms psbn,bn --checkpoint-norm bn --induce-collapse 0.25 --set solver.optimizer=adam --set solver.baseLr=0.003
echo "controlled revival: $out/induced/revival.md"
