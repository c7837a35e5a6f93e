// Argument checks of tps_sample, shared by the CPU and CUDA kernels.
#pragma once

#include "../common/checks.h"

namespace impasto {

// image BxCxHxW, coeffs Bx(K+3)x2, dst_points BxKx2 with K >= 3 (one dtype, one device).
inline void check_tps_sample_args(const at::Tensor& image, const at::Tensor& coeffs, const at::Tensor& dst,
                                  c10::DeviceType device) {
  check_input(image, "tps_sample", "image", 4, "BxCxHxW", device);
  check_input(coeffs, "tps_sample", "coeffs", 3, "Bx(K+3)x2", device);
  check_input(dst, "tps_sample", "dst_points", 3, "BxKx2", device);
  check_like(coeffs, "coeffs", image, "image", "tps_sample");
  check_like(dst, "dst_points", image, "image", "tps_sample");
  TORCH_CHECK(dst.size(0) == image.size(0) && dst.size(2) == 2 && dst.size(1) >= 3, "tps_sample: expected dst_points ",
              "of shape ", image.size(0), "xKx2 with K >= 3, got ", dst.sizes());
  TORCH_CHECK(coeffs.size(0) == image.size(0) && coeffs.size(1) == dst.size(1) + 3 && coeffs.size(2) == 2,
              "tps_sample: expected coeffs of shape ", image.size(0), "x", dst.size(1) + 3, "x2, got ", coeffs.sizes());
}

}  // namespace impasto
