// Block-wide reductions of the CUDA kernels (warp shuffles, then one value per warp in shared memory).
#pragma once

#include <cuda_runtime.h>

namespace impasto {
namespace cuda {

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// Sum of v over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
template <typename T>
__device__ __forceinline__ T block_sum(T v) {
  __shared__ T partial[32];
  __shared__ T total;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  v = warp_sum(v);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    T s = lane < static_cast<int>(blockDim.x / 32) ? partial[lane] : T(0);
    s = warp_sum(s);
    if (lane == 0) total = s;
  }
  __syncthreads();
  const T result = total;
  __syncthreads();  // partial/total may be reused by the next call
  return result;
}

// Blocks of `threads` threads covering n items (grid-stride loops take the rest).
inline unsigned int blocks_for(long long n, int threads) {
  const long long b = (n + threads - 1) / threads;
  return static_cast<unsigned int>(b < 65535LL * 32 ? b : 65535LL * 32);
}

}  // namespace cuda
}  // namespace impasto
