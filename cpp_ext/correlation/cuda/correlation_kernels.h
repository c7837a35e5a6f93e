// Launchers of the correlation CUDA kernels: raw pointers, sizes and a stream (no torch headers,
// so correlation_kernels.cu compiles with plain nvcc). Each returns cudaGetLastError() after
// its launches; callers pass contiguous buffers and non-empty sizes. Layouts as in
// ../correlation_impl.h: features BxCxP, unit features BxPxC, rows OxLxN.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace impasto {
namespace cuda {

template <typename T>
cudaError_t launch_normalize_features(const T* f, T* f_hat, T* inv, int64_t b, int64_t c, int64_t p,
                                      cudaStream_t stream);

template <typename T>
cudaError_t launch_normalize_features_backward(const T* df_hat, const T* f_hat, const T* inv, T* df, int64_t b,
                                               int64_t c, int64_t p, cudaStream_t stream);

template <typename T>
cudaError_t launch_normalize_rows(T* s, T* inv, int64_t o, int64_t l, int64_t n, cudaStream_t stream);

template <typename T>
cudaError_t launch_normalize_rows_backward(const T* g, const T* m, const T* inv, T* ds, int64_t o, int64_t l,
                                           int64_t n, cudaStream_t stream);

template <typename T>
cudaError_t launch_local_dots(const T* a_hat, const T* g_hat, T* s, int64_t b, int64_t c, int64_t h, int64_t w,
                              int64_t radius, cudaStream_t stream);

template <typename T>
cudaError_t launch_local_dots_backward(const T* ds, const T* a_hat, const T* g_hat, T* da_hat, T* dg_hat, int64_t b,
                                       int64_t c, int64_t h, int64_t w, int64_t radius, cudaStream_t stream);

}  // namespace cuda
}  // namespace impasto
