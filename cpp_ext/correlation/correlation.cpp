// Schemas and autograd of the correlation ops:
//   impasto::correlation4d(fc, fg) -> out                         (public, differentiable)
//   impasto::local_correlation(fc, fg, radius) -> out             (public, differentiable)
//   impasto::_correlation4d_forward / _local_correlation_forward -> (out, inv)   (CPU / CUDA kernels)
//   impasto::_correlation4d_backward / _local_correlation_backward -> (d_fc, d_fg)
// `inv` holds the per-position inverse norms of the correlation normalisation, saved for backward.
#include <torch/library.h>

#include "../common/autograd_util.h"

namespace impasto {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using Pair = std::tuple<at::Tensor, at::Tensor>;

class Correlation4dFunction : public torch::autograd::Function<Correlation4dFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& fc, const at::Tensor& fg) {
    at::AutoDispatchBelowADInplaceOrView guard;
    static auto op = find_op<Pair(const at::Tensor&, const at::Tensor&)>("impasto::_correlation4d_forward");
    auto [out, inv] = op.call(fc, fg);
    ctx->save_for_backward({fc, fg, out, inv});
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    check_no_double_backward("correlation4d");
    static auto op = find_op<Pair(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                  const at::Tensor&)>("impasto::_correlation4d_backward");
    const auto saved = ctx->get_saved_variables();
    auto [dfc, dfg] = op.call(grads[0].contiguous(), saved[0], saved[1], saved[2], saved[3]);
    return {dfc, dfg};
  }
};

class LocalCorrelationFunction : public torch::autograd::Function<LocalCorrelationFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& fc, const at::Tensor& fg, int64_t radius) {
    at::AutoDispatchBelowADInplaceOrView guard;
    static auto op =
        find_op<Pair(const at::Tensor&, const at::Tensor&, int64_t)>("impasto::_local_correlation_forward");
    auto [out, inv] = op.call(fc, fg, radius);
    ctx->save_for_backward({fc, fg, out, inv});
    ctx->saved_data["radius"] = radius;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    check_no_double_backward("local_correlation");
    static auto op = find_op<Pair(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                  const at::Tensor&, int64_t)>("impasto::_local_correlation_backward");
    const auto saved = ctx->get_saved_variables();
    auto [dfc, dfg] = op.call(grads[0].contiguous(), saved[0], saved[1], saved[2], saved[3],
                              ctx->saved_data["radius"].toInt());
    return {dfc, dfg, at::Tensor()};
  }
};

at::Tensor correlation4d_autograd(const at::Tensor& fc, const at::Tensor& fg) {
  return Correlation4dFunction::apply(fc, fg);
}

at::Tensor local_correlation_autograd(const at::Tensor& fc, const at::Tensor& fg, int64_t radius) {
  return LocalCorrelationFunction::apply(fc, fg, radius);
}

// Below autograd (inference mode, no grad): just the forward kernel's first output.
at::Tensor correlation4d_plain(const at::Tensor& fc, const at::Tensor& fg) {
  static auto op = find_op<Pair(const at::Tensor&, const at::Tensor&)>("impasto::_correlation4d_forward");
  return std::get<0>(op.call(fc, fg));
}

at::Tensor local_correlation_plain(const at::Tensor& fc, const at::Tensor& fg, int64_t radius) {
  static auto op = find_op<Pair(const at::Tensor&, const at::Tensor&, int64_t)>("impasto::_local_correlation_forward");
  return std::get<0>(op.call(fc, fg, radius));
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(impasto, m) {
  m.def("correlation4d(Tensor fc, Tensor fg) -> Tensor");
  m.def("_correlation4d_forward(Tensor fc, Tensor fg) -> (Tensor, Tensor)");
  m.def("_correlation4d_backward(Tensor grad, Tensor fc, Tensor fg, Tensor out, Tensor inv) -> (Tensor, Tensor)");
  m.def("local_correlation(Tensor fc, Tensor fg, int radius) -> Tensor");
  m.def("_local_correlation_forward(Tensor fc, Tensor fg, int radius) -> (Tensor, Tensor)");
  m.def("_local_correlation_backward(Tensor grad, Tensor fc, Tensor fg, Tensor out, Tensor inv, int radius) "
        "-> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(impasto, Autograd, m) {
  m.impl("correlation4d", &correlation4d_autograd);
  m.impl("local_correlation", &local_correlation_autograd);
}

TORCH_LIBRARY_IMPL(impasto, CompositeExplicitAutograd, m) {
  m.impl("correlation4d", &correlation4d_plain);
  m.impl("local_correlation", &local_correlation_plain);
}

}  // namespace impasto
