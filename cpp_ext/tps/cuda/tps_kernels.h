// Launchers of the TPS CUDA kernels: raw pointers, sizes and a stream (no torch headers, so
// tps_kernels.cu compiles with plain nvcc). Each returns cudaGetLastError() after its launch.
// Layouts: image/out BxCxHxW, coeffs Bx(K+3)x2, dst BxKx2, all contiguous, sizes non-empty.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace impasto {
namespace cuda {

// Largest K whose backward accumulators (4K+6 values) fit the 48 KiB of static shared memory.
template <typename T>
constexpr int64_t tps_max_points() {
  return (48 * 1024 / static_cast<int64_t>(sizeof(T)) - 6) / 4;
}

template <typename T>
cudaError_t launch_tps_sample(const T* image, const T* coeffs, const T* dst, T* out, int64_t b, int64_t c, int64_t h,
                              int64_t w, int64_t k, cudaStream_t stream);

// d_image, d_coeffs and d_dst must be zero-filled: the kernel accumulates into them atomically.
template <typename T>
cudaError_t launch_tps_sample_backward(const T* grad, const T* image, const T* coeffs, const T* dst, T* d_image,
                                       T* d_coeffs, T* d_dst, int64_t b, int64_t c, int64_t h, int64_t w, int64_t k,
                                       cudaStream_t stream);

}  // namespace cuda
}  // namespace impasto
