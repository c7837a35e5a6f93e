// OpenMP helpers of the CPU kernels: they use torch's thread count (torch.set_num_threads).
#pragma once

#include <ATen/Parallel.h>

#include <cstdint>

namespace impasto {

// Run fn(i) for i in [0, n) on OpenMP threads; serial when n * cost_per_item is small.
template <typename Fn>
inline void omp_for(int64_t n, int64_t cost_per_item, const Fn& fn) {
  const bool parallel = n > 1 && n * cost_per_item > 32768;
#pragma omp parallel for schedule(static) num_threads(at::get_num_threads()) if (parallel)
  for (int64_t i = 0; i < n; ++i) {
    fn(i);
  }
}

// Dot product of two contiguous vectors; `omp simd` lets the compiler vectorise the reduction
// (it reorders the sum, as any BLAS does: same precision, different rounding).
template <typename T>
inline T dot(const T* a, const T* b, int64_t n) {
  T acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t k = 0; k < n; ++k) acc += a[k] * b[k];
  return acc;
}

}  // namespace impasto
