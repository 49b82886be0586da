// Haar DWT / IDWT CUDA kernels for the nervkit TensorRT plugins (nervkit::HaarDWT, nervkit::HaarIDWT).
//
// Contract: export/haar_onnx.py. One thread per output 2x2 block: it reads the block once and writes the
// four bands (DWT), or reads the four bands and writes the block (IDWT), so each tensor element crosses
// memory exactly once. The IDWT takes an optional clamp (clip_lo < clip_hi): the fused plugin that
// absorbs a following Clip (SNeRV clamps its frame) and saves one read and one write of the frame.
//
// Argument order follows TensorRT's AOT Python plugins: inputs, then int scalars, then outputs.
// Compiled ahead of time to PTX by build.sh (nvcc); nothing here runs without a GPU.
#include <cuda_fp16.h>

template <typename T> __device__ __forceinline__ float load(const T* p, long i) { return float(p[i]); }
template <> __device__ __forceinline__ float load<__half>(const __half* p, long i) { return __half2float(p[i]); }
template <typename T> __device__ __forceinline__ void store(T* p, long i, float v) { p[i] = T(v); }
template <> __device__ __forceinline__ void store<__half>(__half* p, long i, float v) { p[i] = __float2half(v); }

// mode: 0 zero, 1 edge (periodization) -- how the odd last row/column is padded.
__device__ __forceinline__ int pad_index(int i, int n, int mode, bool* zero) {
    if (i < n) return i;
    if (mode == 0) *zero = true;
    return n - 1;
}

template <typename T>
__device__ void dwt(const T* x, int nc, int H, int W, int mode, T* ll, T* high) {
    int h = (H + 1) / 2, w = (W + 1) / 2;
    long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (idx >= (long)nc * h * w) return;
    int j = idx % w, i = (idx / w) % h;
    long c = idx / ((long)w * h);
    float v[2][2];
    for (int di = 0; di < 2; ++di)
        for (int dj = 0; dj < 2; ++dj) {
            bool zero = false;
            int r = pad_index(2 * i + di, H, mode, &zero), q = pad_index(2 * j + dj, W, mode, &zero);
            v[di][dj] = zero ? 0.f : load(x, (c * H + r) * W + q);
        }
    long o = (c * h + i) * w + j, band = (long)h * w;
    store(ll, o, 0.5f * (v[0][0] + v[0][1] + v[1][0] + v[1][1]));
    long hb = (c * 3 * h + i) * w + j;  // high [N, C, 3, h, w]
    store(high, hb, 0.5f * (v[0][0] + v[0][1] - v[1][0] - v[1][1]));
    store(high, hb + band, 0.5f * (v[0][0] - v[0][1] + v[1][0] - v[1][1]));
    store(high, hb + 2 * band, 0.5f * (v[0][0] - v[0][1] - v[1][0] + v[1][1]));
}

template <typename T>
__device__ void idwt(const T* ll, const T* high, int nc, int h, int w, int clamp, T* x) {
    long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (idx >= (long)nc * h * w) return;
    int j = idx % w, i = (idx / w) % h;
    long c = idx / ((long)w * h), band = (long)h * w;
    long hb = (c * 3 * h + i) * w + j;
    float a = load(ll, (c * h + i) * w + j), b0 = load(high, hb), b1 = load(high, hb + band),
          b2 = load(high, hb + 2 * band);
    float out[4] = {0.5f * (a + b0 + b1 + b2), 0.5f * (a + b0 - b1 - b2),
                    0.5f * (a - b0 + b1 - b2), 0.5f * (a - b0 - b1 + b2)};
    for (int k = 0; k < 4; ++k) {
        float v = clamp ? fminf(fmaxf(out[k], 0.f), 1.f) : out[k];
        store(x, (c * 2 * h + 2 * i + k / 2) * (2L * w) + 2 * j + k % 2, v);
    }
}

extern "C" {
__global__ void haar_dwt_f32(const float* x, int nc, int H, int W, int mode, float* ll, float* high) {
    dwt(x, nc, H, W, mode, ll, high);
}
__global__ void haar_dwt_f16(const __half* x, int nc, int H, int W, int mode, __half* ll, __half* high) {
    dwt(x, nc, H, W, mode, ll, high);
}
__global__ void haar_idwt_f32(const float* ll, const float* high, int nc, int h, int w, int clamp, float* x) {
    idwt(ll, high, nc, h, w, clamp, x);
}
__global__ void haar_idwt_f16(const __half* ll, const __half* high, int nc, int h, int w, int clamp, __half* x) {
    idwt(ll, high, nc, h, w, clamp, x);
}
}
