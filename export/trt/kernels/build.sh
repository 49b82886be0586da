#!/bin/sh
# Compile the Haar kernels to PTX for the TensorRT AOT plugins (needs the CUDA toolkit's nvcc).
# Run once per checkout on a machine with CUDA: sh export/trt/kernels/build.sh [ARCH, default compute_80]
set -e
cd "$(dirname "$0")"
nvcc -ptx -O3 -arch="${1:-compute_80}" -o haar.ptx haar.cu
echo "wrote $(pwd)/haar.ptx"
