// CUDA kernels of tps_sample: the TPS map is evaluated per pixel and sampled bilinearly in the
// same thread, so the dense HxWx2 grid is never materialised (forward or backward).
//   forward:  one thread per (batch, pixel), looping over channels (coalesced writes per channel).
//   backward: one thread per (batch, pixel); the image gradient is scattered with atomicAdd to the
//             four taps of each channel; the per-pixel terms of d_coeffs / d_dst (4K+6 values per
//             batch item) are summed in shared memory with shared atomics and added to global memory
//             once per block. Atomics make the gradients' summation order (so their last bits)
//             run-to-run nondeterministic. Needs sm_60+ (double atomicAdd).
#include "../tps_math.h"
#include "tps_kernels.h"

namespace impasto {
namespace cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void tps_sample_kernel(const T* __restrict__ image, const T* __restrict__ coeffs,
                                  const T* __restrict__ dst, T* __restrict__ out, int64_t b, int64_t c, int64_t h,
                                  int64_t w, int64_t k) {
  const int64_t p = h * w;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < b * p;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t bi = idx / p, pix = idx % p;
    const T x = tps::pixel_centre<T>(pix % w, w), y = tps::pixel_centre<T>(pix / w, h);
    T tx, ty;
    tps::evaluate(coeffs + bi * (k + 3) * 2, dst + bi * k * 2, k, x, y, &tx, &ty);
    const tps::Taps<T> taps(tx, ty, h, w);
    for (int64_t ch = 0; ch < c; ++ch) out[(bi * c + ch) * p + pix] = taps.sample(image + (bi * c + ch) * p, w);
  }
}

// grid: (pixel blocks, batch). Shared memory: 4K+6 accumulators of this block's batch item.
template <typename T>
__global__ void tps_sample_backward_kernel(const T* __restrict__ grad, const T* __restrict__ image,
                                           const T* __restrict__ coeffs, const T* __restrict__ dst,
                                           T* __restrict__ d_image, T* __restrict__ d_coeffs, T* __restrict__ d_dst,
                                           int64_t c, int64_t h, int64_t w, int64_t k) {
  extern __shared__ unsigned char shared_raw[];
  T* acc = reinterpret_cast<T*>(shared_raw);
  const int64_t p = h * w, n_acc = 4 * k + 6, bi = blockIdx.y;
  for (int64_t i = threadIdx.x; i < n_acc; i += blockDim.x) acc[i] = T(0);
  __syncthreads();
  const T* cfb = coeffs + bi * (k + 3) * 2;
  const T* dpb = dst + bi * k * 2;
  for (int64_t pix = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; pix < p; pix += int64_t(gridDim.x) * blockDim.x) {
    const T x = tps::pixel_centre<T>(pix % w, w), y = tps::pixel_centre<T>(pix / w, h);
    T tx, ty;
    tps::evaluate(cfb, dpb, k, x, y, &tx, &ty);
    const tps::Taps<T> taps(tx, ty, h, w);
    const T wx0 = T(1) - taps.wx1, wy0 = T(1) - taps.wy1;
    T gtx = 0, gty = 0;
    for (int64_t ch = 0; ch < c; ++ch) {
      const int64_t plane = (bi * c + ch) * p;
      const T g = grad[plane + pix];
      taps.add_point_grad(image + plane, h, w, g, &gtx, &gty);
      T* di = d_image + plane;
      if (taps.in_y0 && taps.in_x0) atomicAdd(di + taps.y0 * w + taps.x0, g * wy0 * wx0);
      if (taps.in_y0 && taps.in_x1) atomicAdd(di + taps.y0 * w + taps.x0 + 1, g * wy0 * taps.wx1);
      if (taps.in_y1 && taps.in_x0) atomicAdd(di + (taps.y0 + 1) * w + taps.x0, g * taps.wy1 * wx0);
      if (taps.in_y1 && taps.in_x1) atomicAdd(di + (taps.y0 + 1) * w + taps.x0 + 1, g * taps.wy1 * taps.wx1);
    }
    tps::add_map_grad(cfb, dpb, k, x, y, gtx, gty, [acc](int64_t i, T v) { atomicAdd(acc + i, v); });
  }
  __syncthreads();
  for (int64_t i = threadIdx.x; i < n_acc; i += blockDim.x) {
    if (i < 2 * (k + 3)) {
      atomicAdd(d_coeffs + bi * 2 * (k + 3) + i, acc[i]);
    } else {
      atomicAdd(d_dst + bi * 2 * k + (i - 2 * (k + 3)), acc[i]);
    }
  }
}

unsigned int blocks_for(int64_t n, int64_t cap) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned int>(blocks < cap ? blocks : cap);
}

}  // namespace

template <typename T>
cudaError_t launch_tps_sample(const T* image, const T* coeffs, const T* dst, T* out, int64_t b, int64_t c, int64_t h,
                              int64_t w, int64_t k, cudaStream_t stream) {
  tps_sample_kernel<T><<<blocks_for(b * h * w, 65535LL * 32), kThreads, 0, stream>>>(image, coeffs, dst, out, b, c,
                                                                                      h, w, k);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_tps_sample_backward(const T* grad, const T* image, const T* coeffs, const T* dst, T* d_image,
                                       T* d_coeffs, T* d_dst, int64_t b, int64_t c, int64_t h, int64_t w, int64_t k,
                                       cudaStream_t stream) {
  // Cap the pixel blocks per batch item: fewer blocks mean fewer global atomics on the accumulators.
  const dim3 grid(blocks_for(h * w, 1024), static_cast<unsigned int>(b));
  const size_t shared = static_cast<size_t>(4 * k + 6) * sizeof(T);
  tps_sample_backward_kernel<T><<<grid, kThreads, shared, stream>>>(grad, image, coeffs, dst, d_image, d_coeffs, d_dst,
                                                                    c, h, w, k);
  return cudaGetLastError();
}

#define IMPASTO_INSTANTIATE(T)                                                                                   \
  template cudaError_t launch_tps_sample<T>(const T*, const T*, const T*, T*, int64_t, int64_t, int64_t, int64_t, \
                                            int64_t, cudaStream_t);                                               \
  template cudaError_t launch_tps_sample_backward<T>(const T*, const T*, const T*, const T*, T*, T*, T*, int64_t, \
                                                     int64_t, int64_t, int64_t, int64_t, cudaStream_t);
IMPASTO_INSTANTIATE(float)
IMPASTO_INSTANTIATE(double)
#undef IMPASTO_INSTANTIATE

}  // namespace cuda
}  // namespace impasto
