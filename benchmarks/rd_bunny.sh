#!/usr/bin/env bash
# Rate-distortion of HNeRV and SNeRV at three sizes against x264, x265 and SVT-AV1 on the 160x320 bunny
# frames (132 frames), trained on the CPU at a low number of epochs. Resumable: run it again after an
# interruption and each training continues where it stopped (nerv-train --resume); finished ones are skipped.
#
#   benchmarks/rd_bunny.sh [FRAMES_DIR] [WORK_DIR] [EPOCHS]
set -euo pipefail
frames=${1:-../shared/data/bunny/frames-160x320}
work=${2:-rd-bunny}
epochs=${3:-12}
here=$(cd "$(dirname "$0")" && pwd)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # one thread per training: the shared CPU oversubscribes otherwise
mkdir -p "$work"
for size in 0.05 0.1 0.2; do
  for model in hnerv snerv; do
    name="$work/$model-$size"
    nerv-train "$frames" -o "$name.pt" --model "$model" --size "$size" --epochs "$epochs" \
      --eval-every "$epochs" --resume
    [ "$name.nvpkg" -nt "$name.pt" ] || nerv-export "$name.pt" -o "$name.nvpkg" --eval-frames 0
  done
done
[ "${RD_TRAIN_ONLY:-0}" = 1 ] && exit 0
nerv-rd "$frames" "$work" --codecs libx264,libx265,libsvtav1 \
  --json "$here/results/rd_bunny_160x320.json" --plot "$here/results/rd_bunny_160x320.png" \
  | tee "$here/results/rd_bunny_160x320.txt"
