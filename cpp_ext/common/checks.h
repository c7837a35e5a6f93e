// Argument checks shared by every impasto kernel (CPU and CUDA): device, dtype, rank,
// contiguity. Each message names the op, the argument, what was expected and what was got.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

namespace impasto {

// Added under the square roots of both normalisations; must equal impasto.ops.reference.EPS.
constexpr double kEps = 1e-10;

// A float32/float64, contiguous tensor of rank `ndim` on a device of type `device`.
inline void check_input(const at::Tensor& t, const char* op, const char* name, int64_t ndim,
                        const char* layout, c10::DeviceType device) {
  TORCH_CHECK(t.device().type() == device, op, ": expected ", name, " on ", c10::DeviceTypeName(device),
              ", got ", t.device());
  TORCH_CHECK(t.dim() == ndim, op, ": expected ", name, " of rank ", ndim, " (", layout, "), got shape ",
              t.sizes());
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble, op, ": expected ", name,
              " as float32 or float64, got ", t.scalar_type());
  TORCH_CHECK(t.is_contiguous(), op, ": expected ", name, " contiguous (call .contiguous()), got strides ",
              t.strides(), " for shape ", t.sizes());
}

// `t` has the dtype and device of `ref`.
inline void check_like(const at::Tensor& t, const char* name, const at::Tensor& ref, const char* ref_name,
                       const char* op) {
  TORCH_CHECK(t.scalar_type() == ref.scalar_type(), op, ": expected ", name, " with the dtype of ", ref_name, " (",
              ref.scalar_type(), "), got ", t.scalar_type());
  TORCH_CHECK(t.device() == ref.device(), op, ": expected ", name, " on the device of ", ref_name, " (",
              ref.device(), "), got ", t.device());
}

}  // namespace impasto
