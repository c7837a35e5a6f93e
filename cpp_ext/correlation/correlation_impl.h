// The correlation ops written once over a device backend (CPU or CUDA).
//
// Design: the dense 4D correlation is a batched GEMM of the unit features, so it runs as
// at::bmm (MKL/OpenBLAS on CPU, cuBLAS on CUDA); everything around it is a custom kernel:
// per-position feature normalisation into a channels-last buffer, the per-row (over the
// target dimension) normalisation in place on the GEMM output, and their backward passes.
// The local correlation has no GEMM structure: its window dot products are a custom kernel
// (memory B*H*W*(2r+1)^2, never (H*W)^2), normalised over the window by the same row kernel.
//
// Backward (the normalisations couple positions, so it is computed in three exact steps):
//   1. rows:     M = s * n with n = 1/sqrt(sum_t s_t^2 + eps):  ds = n * (G - M * sum_t(G_t * M_t)).
//   2. products: s = A_hat B_hat^T, so dA_hat = ds B_hat and dB_hat = ds^T A_hat (GEMMs for the dense op,
//                gathers over the window for the local op: no atomics).
//   3. features: f_hat = f * v with v = 1/sqrt(|f|^2 + eps):  df = v * (df_hat - f_hat * <f_hat, df_hat>).
//
// A Backend provides (all tensors contiguous, one dtype, on the backend's device):
//   normalize_features(f: BxCxP) -> (f_hat: BxPxC, inv: BxP)
//   normalize_features_backward(df_hat: BxPxC, f_hat, inv) -> df: BxCxP
//   normalize_rows_(s: OxLxN, inv: OxN)                  in place: s[o,:,n] *= inv[o,n] = 1/sqrt(sum s^2 + eps)
//   normalize_rows_backward(g: OxLxN, m: OxLxN, inv: OxN) -> ds: OxLxN
//   local_dots(a_hat: BxPxC, g_hat: BxPxC, H, W, r) -> s: Bx(2r+1)^2xP
//   local_dots_backward(ds: Bx(2r+1)^2xP, a_hat, g_hat, H, W, r) -> (da_hat, dg_hat): BxPxC each
#pragma once

#include <ATen/ATen.h>

#include <tuple>

#include "correlation_checks.h"

namespace impasto {

template <class Backend>
std::tuple<at::Tensor, at::Tensor> correlation4d_forward_impl(const at::Tensor& fc, const at::Tensor& fg) {
  const int64_t b = fc.size(0), c = fc.size(1), h = fc.size(2), w = fc.size(3), hg = fg.size(2), wg = fg.size(3);
  const int64_t p = h * w, q = hg * wg;
  auto [a_hat, inv_a] = Backend::normalize_features(fc.view({b, c, p}));
  auto [g_hat, inv_g] = Backend::normalize_features(fg.view({b, c, q}));
  at::Tensor s = at::bmm(a_hat, g_hat.transpose(1, 2)).contiguous();  // B x P x Q
  at::Tensor inv_row = at::empty({b, p}, fc.options());
  Backend::normalize_rows_(s.view({b * p, q, 1}), inv_row.view({b * p, 1}));
  return {s.view({b, h, w, hg, wg}), inv_row.view({b, h, w})};
}

template <class Backend>
std::tuple<at::Tensor, at::Tensor> correlation4d_backward_impl(const at::Tensor& grad, const at::Tensor& fc,
                                                               const at::Tensor& fg, const at::Tensor& out,
                                                               const at::Tensor& inv_row) {
  const int64_t b = fc.size(0), c = fc.size(1), h = fc.size(2), w = fc.size(3), hg = fg.size(2), wg = fg.size(3);
  const int64_t p = h * w, q = hg * wg;
  check_shape(grad, {b, h, w, hg, wg}, "grad", fc, "correlation4d backward");
  check_shape(out, {b, h, w, hg, wg}, "out", fc, "correlation4d backward");
  check_shape(inv_row, {b, h, w}, "inv_row", fc, "correlation4d backward");
  auto [a_hat, inv_a] = Backend::normalize_features(fc.view({b, c, p}));
  auto [g_hat, inv_g] = Backend::normalize_features(fg.view({b, c, q}));
  at::Tensor ds = Backend::normalize_rows_backward(grad.view({b * p, q, 1}), out.view({b * p, q, 1}),
                                                   inv_row.view({b * p, 1}))
                      .view({b, p, q});
  at::Tensor da_hat = at::bmm(ds, g_hat).contiguous();                    // B x P x C
  at::Tensor dg_hat = at::bmm(ds.transpose(1, 2), a_hat).contiguous();    // B x Q x C
  at::Tensor dfc = Backend::normalize_features_backward(da_hat, a_hat, inv_a).view({b, c, h, w});
  at::Tensor dfg = Backend::normalize_features_backward(dg_hat, g_hat, inv_g).view({b, c, hg, wg});
  return {dfc, dfg};
}

template <class Backend>
std::tuple<at::Tensor, at::Tensor> local_correlation_forward_impl(const at::Tensor& fc, const at::Tensor& fg,
                                                                  int64_t radius) {
  const int64_t b = fc.size(0), c = fc.size(1), h = fc.size(2), w = fc.size(3), p = h * w;
  const int64_t side = 2 * radius + 1;
  auto [a_hat, inv_a] = Backend::normalize_features(fc.view({b, c, p}));
  auto [g_hat, inv_g] = Backend::normalize_features(fg.view({b, c, p}));
  at::Tensor s = Backend::local_dots(a_hat, g_hat, h, w, radius);  // B x side^2 x P
  at::Tensor inv = at::empty({b, p}, fc.options());
  Backend::normalize_rows_(s, inv);
  return {s.view({b, side * side, h, w}), inv.view({b, h, w})};
}

template <class Backend>
std::tuple<at::Tensor, at::Tensor> local_correlation_backward_impl(const at::Tensor& grad, const at::Tensor& fc,
                                                                   const at::Tensor& fg, const at::Tensor& out,
                                                                   const at::Tensor& inv, int64_t radius) {
  const int64_t b = fc.size(0), c = fc.size(1), h = fc.size(2), w = fc.size(3), p = h * w;
  const int64_t win = (2 * radius + 1) * (2 * radius + 1);
  check_shape(grad, {b, win, h, w}, "grad", fc, "local_correlation backward");
  check_shape(out, {b, win, h, w}, "out", fc, "local_correlation backward");
  check_shape(inv, {b, h, w}, "inv", fc, "local_correlation backward");
  auto [a_hat, inv_a] = Backend::normalize_features(fc.view({b, c, p}));
  auto [g_hat, inv_g] = Backend::normalize_features(fg.view({b, c, p}));
  at::Tensor ds = Backend::normalize_rows_backward(grad.view({b, win, p}), out.view({b, win, p}), inv.view({b, p}));
  auto [da_hat, dg_hat] = Backend::local_dots_backward(ds, a_hat, g_hat, h, w, radius);
  at::Tensor dfc = Backend::normalize_features_backward(da_hat, a_hat, inv_a).view({b, c, h, w});
  at::Tensor dfg = Backend::normalize_features_backward(dg_hat, g_hat, inv_g).view({b, c, h, w});
  return {dfc, dfg};
}

}  // namespace impasto
