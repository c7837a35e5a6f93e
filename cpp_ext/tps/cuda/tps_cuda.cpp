// Torch-facing side of the TPS CUDA kernels (built only in a CUDA build): checks, device guard,
// the current stream, launches through tps_kernels.h and launch-error checks.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "../tps_checks.h"
#include "tps_kernels.h"

namespace impasto {
namespace {

void check_cuda_limits(const at::Tensor& image, const at::Tensor& dst) {
  TORCH_CHECK(image.size(0) <= 65535, "tps_sample: expected a batch of at most 65535 on CUDA, got ", image.size(0));
  const int64_t max_k = image.scalar_type() == at::kDouble ? cuda::tps_max_points<double>()
                                                           : cuda::tps_max_points<float>();
  TORCH_CHECK(dst.size(1) <= max_k, "tps_sample: expected at most ", max_k, " control points for ",
              image.scalar_type(), " on CUDA (shared-memory accumulators), got ", dst.size(1));
}

at::Tensor tps_sample_cuda(const at::Tensor& image, const at::Tensor& coeffs, const at::Tensor& dst) {
  check_tps_sample_args(image, coeffs, dst, c10::DeviceType::CUDA);
  const c10::cuda::CUDAGuard guard(image.device());
  at::Tensor out = at::empty_like(image);
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(image.scalar_type(), "tps_sample_cuda", [&] {
    C10_CUDA_CHECK(cuda::launch_tps_sample<scalar_t>(
        image.const_data_ptr<scalar_t>(), coeffs.const_data_ptr<scalar_t>(), dst.const_data_ptr<scalar_t>(),
        out.data_ptr<scalar_t>(), image.size(0), image.size(1), image.size(2), image.size(3), dst.size(1),
        c10::cuda::getCurrentCUDAStream()));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> tps_sample_backward_cuda(const at::Tensor& grad,
                                                                        const at::Tensor& image,
                                                                        const at::Tensor& coeffs,
                                                                        const at::Tensor& dst) {
  check_tps_sample_args(image, coeffs, dst, c10::DeviceType::CUDA);
  check_like(grad, "grad", image, "image", "tps_sample backward");
  TORCH_CHECK(grad.sizes() == image.sizes() && grad.is_contiguous(), "tps_sample backward: expected a contiguous ",
              "grad of shape ", image.sizes(), ", got ", grad.sizes());
  check_cuda_limits(image, dst);
  const c10::cuda::CUDAGuard guard(image.device());
  at::Tensor d_image = at::zeros_like(image);
  at::Tensor d_coeffs = at::zeros_like(coeffs);
  at::Tensor d_dst = at::zeros_like(dst);
  if (image.numel() == 0) return {d_image, d_coeffs, d_dst};
  AT_DISPATCH_FLOATING_TYPES(image.scalar_type(), "tps_sample_backward_cuda", [&] {
    C10_CUDA_CHECK(cuda::launch_tps_sample_backward<scalar_t>(
        grad.const_data_ptr<scalar_t>(), image.const_data_ptr<scalar_t>(), coeffs.const_data_ptr<scalar_t>(),
        dst.const_data_ptr<scalar_t>(), d_image.data_ptr<scalar_t>(), d_coeffs.data_ptr<scalar_t>(),
        d_dst.data_ptr<scalar_t>(), image.size(0), image.size(1), image.size(2), image.size(3), dst.size(1),
        c10::cuda::getCurrentCUDAStream()));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {d_image, d_coeffs, d_dst};
}

}  // namespace

TORCH_LIBRARY_IMPL(impasto, CUDA, m) {
  m.impl("tps_sample", &tps_sample_cuda);
  m.impl("_tps_sample_backward", &tps_sample_backward_cuda);
}

}  // namespace impasto
