// CUDA kernels of the correlation ops (see ../correlation_impl.h for the formulas). Plain CUDA:
// compiled by nvcc without torch headers; torch-facing checks and launches are in
// correlation_cuda.cpp. Design notes:
//   - feature normalisation: one thread per position, reading BxCxP coalesced along P;
//   - row normalisation: one block per row with a block reduction when rows are contiguous
//     (the dense op: rows of H_g*W_g), one thread per row otherwise (the local op: the window
//     is strided by P, so neighbouring threads read neighbouring positions);
//   - local dots: one thread per (batch, window offset, position), position fastest, so the
//     BxWxP output is written coalesced; the backward gathers (no atomics, deterministic).
#include <cmath>

#include "../../common/cuda_reduce.cuh"
#include "correlation_kernels.h"

namespace impasto {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr double kEps = 1e-10;  // must equal impasto.ops.reference.EPS

__device__ __forceinline__ float rsqrt_(float v) { return 1.0f / sqrtf(v); }
__device__ __forceinline__ double rsqrt_(double v) { return 1.0 / sqrt(v); }

template <typename T>
__global__ void normalize_features_kernel(const T* __restrict__ f, T* __restrict__ f_hat, T* __restrict__ inv,
                                          int64_t b, int64_t c, int64_t p) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < b * p;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t bi = idx / p, pi = idx % p;
    const T* in = f + bi * c * p + pi;
    T ss = 0;
    for (int64_t k = 0; k < c; ++k) ss += in[k * p] * in[k * p];
    const T v = rsqrt_(ss + T(kEps));
    inv[idx] = v;
    for (int64_t k = 0; k < c; ++k) f_hat[idx * c + k] = in[k * p] * v;
  }
}

template <typename T>
__global__ void normalize_features_backward_kernel(const T* __restrict__ df_hat, const T* __restrict__ f_hat,
                                                   const T* __restrict__ inv, T* __restrict__ df, int64_t b,
                                                   int64_t c, int64_t p) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < b * p;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t bi = idx / p, pi = idx % p;
    T dot = 0;
    for (int64_t k = 0; k < c; ++k) dot += f_hat[idx * c + k] * df_hat[idx * c + k];
    for (int64_t k = 0; k < c; ++k) df[bi * c * p + k * p + pi] = inv[idx] * (df_hat[idx * c + k] - f_hat[idx * c + k] * dot);
  }
}

// Contiguous rows (n == 1): one block per row.
template <typename T>
__global__ void normalize_rows_block_kernel(T* __restrict__ s, T* __restrict__ inv, int64_t rows, int64_t l) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    T* x = s + row * l;
    T ss = 0;
    for (int64_t t = threadIdx.x; t < l; t += blockDim.x) ss += x[t] * x[t];
    const T v = rsqrt_(block_sum(ss) + T(kEps));
    if (threadIdx.x == 0) inv[row] = v;
    for (int64_t t = threadIdx.x; t < l; t += blockDim.x) x[t] *= v;
  }
}

// Strided rows (n > 1): one thread per (o, n).
template <typename T>
__global__ void normalize_rows_thread_kernel(T* __restrict__ s, T* __restrict__ inv, int64_t o, int64_t l,
                                             int64_t n) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < o * n;
       idx += int64_t(gridDim.x) * blockDim.x) {
    T* x = s + (idx / n) * l * n + idx % n;
    T ss = 0;
    for (int64_t t = 0; t < l; ++t) ss += x[t * n] * x[t * n];
    const T v = rsqrt_(ss + T(kEps));
    inv[idx] = v;
    for (int64_t t = 0; t < l; ++t) x[t * n] *= v;
  }
}

template <typename T>
__global__ void normalize_rows_backward_block_kernel(const T* __restrict__ g, const T* __restrict__ m,
                                                     const T* __restrict__ inv, T* __restrict__ ds, int64_t rows,
                                                     int64_t l) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t base = row * l;
    T dot = 0;
    for (int64_t t = threadIdx.x; t < l; t += blockDim.x) dot += g[base + t] * m[base + t];
    dot = block_sum(dot);
    for (int64_t t = threadIdx.x; t < l; t += blockDim.x) ds[base + t] = inv[row] * (g[base + t] - m[base + t] * dot);
  }
}

template <typename T>
__global__ void normalize_rows_backward_thread_kernel(const T* __restrict__ g, const T* __restrict__ m,
                                                      const T* __restrict__ inv, T* __restrict__ ds, int64_t o,
                                                      int64_t l, int64_t n) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < o * n;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t base = (idx / n) * l * n + idx % n;
    T dot = 0;
    for (int64_t t = 0; t < l; ++t) dot += g[base + t * n] * m[base + t * n];
    for (int64_t t = 0; t < l; ++t) ds[base + t * n] = inv[idx] * (g[base + t * n] - m[base + t * n] * dot);
  }
}

template <typename T>
__global__ void local_dots_kernel(const T* __restrict__ a, const T* __restrict__ g, T* __restrict__ s, int64_t b,
                                  int64_t c, int64_t h, int64_t w, int64_t radius) {
  const int64_t p = h * w, side = 2 * radius + 1, win_n = side * side;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < b * win_n * p;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t pi = idx % p, win = (idx / p) % win_n, bi = idx / (p * win_n);
    const int64_t y = pi / w + win / side - radius, x = pi % w + win % side - radius;
    T dot = 0;
    if (y >= 0 && y < h && x >= 0 && x < w) {
      const T* av = a + (bi * p + pi) * c;
      const T* gv = g + (bi * p + y * w + x) * c;
      for (int64_t k = 0; k < c; ++k) dot += av[k] * gv[k];
    }
    s[idx] = dot;
  }
}

// One thread per (batch, position, channel), channel fastest: gathers both gradients.
template <typename T>
__global__ void local_dots_backward_kernel(const T* __restrict__ ds, const T* __restrict__ a,
                                           const T* __restrict__ g, T* __restrict__ da, T* __restrict__ dg, int64_t b,
                                           int64_t c, int64_t h, int64_t w, int64_t radius) {
  const int64_t p = h * w, side = 2 * radius + 1, win_n = side * side;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < b * p * c;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t k = idx % c, pi = (idx / c) % p, bi = idx / (c * p);
    const int64_t i = pi / w, j = pi % w;
    const T* dsb = ds + bi * win_n * p;
    T acc_a = 0, acc_g = 0;
    for (int64_t win = 0; win < win_n; ++win) {
      const int64_t dy = win / side - radius, dx = win % side - radius;
      const int64_t y = i + dy, x = j + dx;
      if (y >= 0 && y < h && x >= 0 && x < w) acc_a += dsb[win * p + pi] * g[(bi * p + y * w + x) * c + k];
      const int64_t ys = i - dy, xs = j - dx;
      if (ys >= 0 && ys < h && xs >= 0 && xs < w) {
        acc_g += dsb[win * p + ys * w + xs] * a[(bi * p + ys * w + xs) * c + k];
      }
    }
    da[idx] = acc_a;
    dg[idx] = acc_g;
  }
}

}  // namespace

template <typename T>
cudaError_t launch_normalize_features(const T* f, T* f_hat, T* inv, int64_t b, int64_t c, int64_t p,
                                      cudaStream_t stream) {
  normalize_features_kernel<T><<<blocks_for(b * p, kThreads), kThreads, 0, stream>>>(f, f_hat, inv, b, c, p);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_normalize_features_backward(const T* df_hat, const T* f_hat, const T* inv, T* df, int64_t b,
                                               int64_t c, int64_t p, cudaStream_t stream) {
  normalize_features_backward_kernel<T>
      <<<blocks_for(b * p, kThreads), kThreads, 0, stream>>>(df_hat, f_hat, inv, df, b, c, p);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_normalize_rows(T* s, T* inv, int64_t o, int64_t l, int64_t n, cudaStream_t stream) {
  if (n == 1) {
    normalize_rows_block_kernel<T><<<blocks_for(o * kThreads, kThreads), kThreads, 0, stream>>>(s, inv, o, l);
  } else {
    normalize_rows_thread_kernel<T><<<blocks_for(o * n, kThreads), kThreads, 0, stream>>>(s, inv, o, l, n);
  }
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_normalize_rows_backward(const T* g, const T* m, const T* inv, T* ds, int64_t o, int64_t l,
                                           int64_t n, cudaStream_t stream) {
  if (n == 1) {
    normalize_rows_backward_block_kernel<T>
        <<<blocks_for(o * kThreads, kThreads), kThreads, 0, stream>>>(g, m, inv, ds, o, l);
  } else {
    normalize_rows_backward_thread_kernel<T>
        <<<blocks_for(o * n, kThreads), kThreads, 0, stream>>>(g, m, inv, ds, o, l, n);
  }
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_local_dots(const T* a_hat, const T* g_hat, T* s, int64_t b, int64_t c, int64_t h, int64_t w,
                              int64_t radius, cudaStream_t stream) {
  const int64_t side = 2 * radius + 1;
  local_dots_kernel<T>
      <<<blocks_for(b * side * side * h * w, kThreads), kThreads, 0, stream>>>(a_hat, g_hat, s, b, c, h, w, radius);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_local_dots_backward(const T* ds, const T* a_hat, const T* g_hat, T* da_hat, T* dg_hat, int64_t b,
                                       int64_t c, int64_t h, int64_t w, int64_t radius, cudaStream_t stream) {
  local_dots_backward_kernel<T><<<blocks_for(b * h * w * c, kThreads), kThreads, 0, stream>>>(
      ds, a_hat, g_hat, da_hat, dg_hat, b, c, h, w, radius);
  return cudaGetLastError();
}

#define IMPASTO_INSTANTIATE(T)                                                                                      \
  template cudaError_t launch_normalize_features<T>(const T*, T*, T*, int64_t, int64_t, int64_t, cudaStream_t);    \
  template cudaError_t launch_normalize_features_backward<T>(const T*, const T*, const T*, T*, int64_t, int64_t,   \
                                                             int64_t, cudaStream_t);                               \
  template cudaError_t launch_normalize_rows<T>(T*, T*, int64_t, int64_t, int64_t, cudaStream_t);                  \
  template cudaError_t launch_normalize_rows_backward<T>(const T*, const T*, const T*, T*, int64_t, int64_t,       \
                                                         int64_t, cudaStream_t);                                   \
  template cudaError_t launch_local_dots<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t,   \
                                            cudaStream_t);                                                         \
  template cudaError_t launch_local_dots_backward<T>(const T*, const T*, const T*, T*, T*, int64_t, int64_t,       \
                                                     int64_t, int64_t, int64_t, cudaStream_t);
IMPASTO_INSTANTIATE(float)
IMPASTO_INSTANTIATE(double)
#undef IMPASTO_INSTANTIATE

}  // namespace cuda
}  // namespace impasto
