// Schemas and autograd of the TPS sampling op:
//   impasto::tps_sample(image, coeffs, dst_points) -> out          (CPU / CUDA kernels, differentiable)
//   impasto::_tps_sample_backward(grad, image, coeffs, dst_points) -> (d_image, d_coeffs, d_dst_points)
// The (K+3)x(K+3) TPS solve that produces `coeffs` from the point sets stays in ATen
// (torch.linalg.solve, in impasto.ops), so autograd carries d_coeffs back to both point sets.
#include <torch/library.h>

#include "../common/autograd_util.h"

namespace impasto {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class TpsSampleFunction : public torch::autograd::Function<TpsSampleFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& image, const at::Tensor& coeffs,
                            const at::Tensor& dst) {
    at::AutoDispatchBelowADInplaceOrView guard;
    static auto op = find_op<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&)>("impasto::tps_sample");
    ctx->save_for_backward({image, coeffs, dst});
    return op.call(image, coeffs, dst);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    check_no_double_backward("tps_warp");
    static auto op = find_op<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
        const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&)>("impasto::_tps_sample_backward");
    const auto saved = ctx->get_saved_variables();
    auto [d_image, d_coeffs, d_dst] = op.call(grads[0].contiguous(), saved[0], saved[1], saved[2]);
    return {d_image, d_coeffs, d_dst};
  }
};

at::Tensor tps_sample_autograd(const at::Tensor& image, const at::Tensor& coeffs, const at::Tensor& dst) {
  return TpsSampleFunction::apply(image, coeffs, dst);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(impasto, m) {
  m.def("tps_sample(Tensor image, Tensor coeffs, Tensor dst_points) -> Tensor");
  m.def("_tps_sample_backward(Tensor grad, Tensor image, Tensor coeffs, Tensor dst_points) "
        "-> (Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(impasto, Autograd, m) {
  m.impl("tps_sample", &tps_sample_autograd);
}

}  // namespace impasto
