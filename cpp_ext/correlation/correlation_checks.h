// Shape checks of the correlation ops, shared by the CPU and CUDA kernels.
#pragma once

#include "../common/checks.h"

namespace impasto {

// fc: BxCxHxW, fg: BxCxHgxWg (same B, C, dtype, device).
inline void check_correlation4d_args(const at::Tensor& fc, const at::Tensor& fg, c10::DeviceType device) {
  check_input(fc, "correlation4d", "fc", 4, "BxCxHxW", device);
  check_input(fg, "correlation4d", "fg", 4, "BxCxHgxWg", device);
  check_like(fg, "fg", fc, "fc", "correlation4d");
  TORCH_CHECK(fg.size(0) == fc.size(0) && fg.size(1) == fc.size(1), "correlation4d: expected fg of shape ",
              fc.size(0), "x", fc.size(1), "xHgxWg (B, C of fc), got ", fg.sizes());
}

// fc, fg: BxCxHxW of one shape; radius >= 0.
inline void check_local_correlation_args(const at::Tensor& fc, const at::Tensor& fg, int64_t radius,
                                         c10::DeviceType device) {
  check_input(fc, "local_correlation", "fc", 4, "BxCxHxW", device);
  check_input(fg, "local_correlation", "fg", 4, "BxCxHxW", device);
  check_like(fg, "fg", fc, "fc", "local_correlation");
  TORCH_CHECK(fg.sizes() == fc.sizes(), "local_correlation: expected fg of the shape of fc ", fc.sizes(), ", got ",
              fg.sizes());
  TORCH_CHECK(radius >= 0, "local_correlation: expected radius >= 0, got ", radius);
}

// A gradient or saved tensor of an exact shape (backward ops).
inline void check_shape(const at::Tensor& t, at::IntArrayRef shape, const char* name, const at::Tensor& ref,
                        const char* op) {
  check_like(t, name, ref, "the inputs", op);
  TORCH_CHECK(t.sizes() == shape, op, ": expected ", name, " of shape ", shape, ", got ", t.sizes());
  TORCH_CHECK(t.is_contiguous(), op, ": expected ", name, " contiguous, got strides ", t.strides());
}

}  // namespace impasto
