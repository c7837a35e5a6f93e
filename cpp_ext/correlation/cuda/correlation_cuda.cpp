// Torch-facing side of the correlation CUDA kernels (built only in a CUDA build): checks,
// device guard, the current stream, launches through correlation_kernels.h and launch-error checks.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../correlation_impl.h"
#include "correlation_kernels.h"

namespace impasto {
namespace {

struct CudaCorrelation {
  static std::tuple<at::Tensor, at::Tensor> normalize_features(const at::Tensor& f) {
    const int64_t b = f.size(0), c = f.size(1), p = f.size(2);
    at::Tensor f_hat = at::empty({b, p, c}, f.options());
    at::Tensor inv = at::empty({b, p}, f.options());
    if (b * p == 0) return {f_hat, inv};
    AT_DISPATCH_FLOATING_TYPES(f.scalar_type(), "normalize_features_cuda", [&] {
      C10_CUDA_CHECK(cuda::launch_normalize_features<scalar_t>(f.const_data_ptr<scalar_t>(),
                                                               f_hat.data_ptr<scalar_t>(), inv.data_ptr<scalar_t>(),
                                                               b, c, p, c10::cuda::getCurrentCUDAStream()));
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return {f_hat, inv};
  }

  static at::Tensor normalize_features_backward(const at::Tensor& df_hat, const at::Tensor& f_hat,
                                                const at::Tensor& inv) {
    const int64_t b = f_hat.size(0), p = f_hat.size(1), c = f_hat.size(2);
    at::Tensor df = at::empty({b, c, p}, f_hat.options());
    if (df.numel() == 0) return df;
    AT_DISPATCH_FLOATING_TYPES(f_hat.scalar_type(), "normalize_features_backward_cuda", [&] {
      C10_CUDA_CHECK(cuda::launch_normalize_features_backward<scalar_t>(
          df_hat.const_data_ptr<scalar_t>(), f_hat.const_data_ptr<scalar_t>(), inv.const_data_ptr<scalar_t>(),
          df.data_ptr<scalar_t>(), b, c, p, c10::cuda::getCurrentCUDAStream()));
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return df;
  }

  static void normalize_rows_(const at::Tensor& s, const at::Tensor& inv) {
    const int64_t o = s.size(0), l = s.size(1), n = s.size(2);
    if (o * n == 0) return;
    AT_DISPATCH_FLOATING_TYPES(s.scalar_type(), "normalize_rows_cuda", [&] {
      C10_CUDA_CHECK(cuda::launch_normalize_rows<scalar_t>(s.data_ptr<scalar_t>(), inv.data_ptr<scalar_t>(), o, l, n,
                                                           c10::cuda::getCurrentCUDAStream()));
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }

  static at::Tensor normalize_rows_backward(const at::Tensor& g, const at::Tensor& m, const at::Tensor& inv) {
    const int64_t o = g.size(0), l = g.size(1), n = g.size(2);
    at::Tensor ds = at::empty_like(g);
    if (ds.numel() == 0) return ds;
    AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "normalize_rows_backward_cuda", [&] {
      C10_CUDA_CHECK(cuda::launch_normalize_rows_backward<scalar_t>(
          g.const_data_ptr<scalar_t>(), m.const_data_ptr<scalar_t>(), inv.const_data_ptr<scalar_t>(),
          ds.data_ptr<scalar_t>(), o, l, n, c10::cuda::getCurrentCUDAStream()));
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return ds;
  }

  static at::Tensor local_dots(const at::Tensor& a_hat, const at::Tensor& g_hat, int64_t h, int64_t w,
                               int64_t radius) {
    const int64_t b = a_hat.size(0), c = a_hat.size(2), side = 2 * radius + 1;
    at::Tensor s = at::empty({b, side * side, h * w}, a_hat.options());
    if (s.numel() == 0) return s;
    AT_DISPATCH_FLOATING_TYPES(a_hat.scalar_type(), "local_dots_cuda", [&] {
      C10_CUDA_CHECK(cuda::launch_local_dots<scalar_t>(a_hat.const_data_ptr<scalar_t>(),
                                                       g_hat.const_data_ptr<scalar_t>(), s.data_ptr<scalar_t>(), b, c,
                                                       h, w, radius, c10::cuda::getCurrentCUDAStream()));
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return s;
  }

  static std::tuple<at::Tensor, at::Tensor> local_dots_backward(const at::Tensor& ds, const at::Tensor& a_hat,
                                                                const at::Tensor& g_hat, int64_t h, int64_t w,
                                                                int64_t radius) {
    const int64_t b = a_hat.size(0), c = a_hat.size(2);
    at::Tensor da = at::empty_like(a_hat);
    at::Tensor dg = at::empty_like(g_hat);
    if (da.numel() == 0) return {da, dg};
    AT_DISPATCH_FLOATING_TYPES(a_hat.scalar_type(), "local_dots_backward_cuda", [&] {
      C10_CUDA_CHECK(cuda::launch_local_dots_backward<scalar_t>(
          ds.const_data_ptr<scalar_t>(), a_hat.const_data_ptr<scalar_t>(), g_hat.const_data_ptr<scalar_t>(),
          da.data_ptr<scalar_t>(), dg.data_ptr<scalar_t>(), b, c, h, w, radius, c10::cuda::getCurrentCUDAStream()));
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return {da, dg};
  }
};

std::tuple<at::Tensor, at::Tensor> correlation4d_forward_cuda(const at::Tensor& fc, const at::Tensor& fg) {
  check_correlation4d_args(fc, fg, c10::DeviceType::CUDA);
  const c10::cuda::CUDAGuard guard(fc.device());
  return correlation4d_forward_impl<CudaCorrelation>(fc, fg);
}

std::tuple<at::Tensor, at::Tensor> correlation4d_backward_cuda(const at::Tensor& grad, const at::Tensor& fc,
                                                               const at::Tensor& fg, const at::Tensor& out,
                                                               const at::Tensor& inv_row) {
  check_correlation4d_args(fc, fg, c10::DeviceType::CUDA);
  const c10::cuda::CUDAGuard guard(fc.device());
  return correlation4d_backward_impl<CudaCorrelation>(grad, fc, fg, out, inv_row);
}

std::tuple<at::Tensor, at::Tensor> local_correlation_forward_cuda(const at::Tensor& fc, const at::Tensor& fg,
                                                                  int64_t radius) {
  check_local_correlation_args(fc, fg, radius, c10::DeviceType::CUDA);
  const c10::cuda::CUDAGuard guard(fc.device());
  return local_correlation_forward_impl<CudaCorrelation>(fc, fg, radius);
}

std::tuple<at::Tensor, at::Tensor> local_correlation_backward_cuda(const at::Tensor& grad, const at::Tensor& fc,
                                                                   const at::Tensor& fg, const at::Tensor& out,
                                                                   const at::Tensor& inv, int64_t radius) {
  check_local_correlation_args(fc, fg, radius, c10::DeviceType::CUDA);
  const c10::cuda::CUDAGuard guard(fc.device());
  return local_correlation_backward_impl<CudaCorrelation>(grad, fc, fg, out, inv, radius);
}

}  // namespace

TORCH_LIBRARY_IMPL(impasto, CUDA, m) {
  m.impl("_correlation4d_forward", &correlation4d_forward_cuda);
  m.impl("_correlation4d_backward", &correlation4d_backward_cuda);
  m.impl("_local_correlation_forward", &local_correlation_forward_cuda);
  m.impl("_local_correlation_backward", &local_correlation_backward_cuda);
}

}  // namespace impasto
