// Helpers of the autograd registrations: typed handles to the internal ops, a double-backward guard.
#pragma once

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>

namespace impasto {

// The typed dispatcher handle of `impasto::<name>` (looked up once per call site).
template <typename Signature>
c10::TypedOperatorHandle<Signature> find_op(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

// The kernels' backward passes are not themselves differentiable: refuse create_graph=True loudly
// (grad mode is on inside a backward only then) instead of returning a silently wrong graph.
inline void check_no_double_backward(const char* op) {
  TORCH_CHECK(!at::GradMode::is_enabled(), op,
              ": double backward (create_graph=True) is not implemented by the compiled kernel; use the "
              "reference ops (impasto.ops.reference) for higher-order gradients");
}

}  // namespace impasto
