// CPU kernels of tps_sample (C++ loops, OpenMP) and their registration.
//
// Forward: per pixel, evaluate the TPS map T(p) and sample every channel bilinearly (no grid).
// Backward: pass 1 (over pixels) evaluates T(p) again, stores it (BxHxWx2, the only grid-sized
// buffer of the CPU path) and reduces d_coeffs / d_dst in thread-local accumulators; pass 2
// (over BxC image planes) scatters the image gradient, so no two threads write one element.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <omp.h>
#include <torch/library.h>

#include <vector>

#include "../../common/cpu_parallel.h"
#include "../tps_checks.h"
#include "../tps_math.h"

namespace impasto {
namespace {

at::Tensor tps_sample_cpu(const at::Tensor& image, const at::Tensor& coeffs, const at::Tensor& dst) {
  check_tps_sample_args(image, coeffs, dst, c10::DeviceType::CPU);
  const int64_t b = image.size(0), c = image.size(1), h = image.size(2), w = image.size(3), k = dst.size(1);
  at::Tensor out = at::empty_like(image);
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(image.scalar_type(), "tps_sample_cpu", [&] {
    const scalar_t* img = image.const_data_ptr<scalar_t>();
    const scalar_t* cf = coeffs.const_data_ptr<scalar_t>();
    const scalar_t* dp = dst.const_data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    omp_for(b * h * w, k + 4 * c, [&](int64_t idx) {
      const int64_t bi = idx / (h * w), pix = idx % (h * w);
      const scalar_t x = tps::pixel_centre<scalar_t>(pix % w, w), y = tps::pixel_centre<scalar_t>(pix / w, h);
      scalar_t tx, ty;
      tps::evaluate(cf + bi * (k + 3) * 2, dp + bi * k * 2, k, x, y, &tx, &ty);
      const tps::Taps<scalar_t> taps(tx, ty, h, w);
      for (int64_t ch = 0; ch < c; ++ch) {
        o[(bi * c + ch) * h * w + pix] = taps.sample(img + (bi * c + ch) * h * w, w);
      }
    });
  });
  return out;
}

template <typename scalar_t>
void tps_sample_backward_kernel(const scalar_t* img, const scalar_t* g, const scalar_t* cf, const scalar_t* dp,
                                scalar_t* ps, scalar_t* dc, scalar_t* dd, scalar_t* di, int64_t b, int64_t c,
                                int64_t h, int64_t w, int64_t k) {
  const int64_t p = h * w, n_acc = 4 * k + 6;
  const int threads = at::get_num_threads();
  std::vector<scalar_t> acc(static_cast<size_t>(threads) * b * n_acc, scalar_t(0));
  const bool parallel = b * p * (k + 4 * c) > 32768;
#pragma omp parallel num_threads(threads) if (parallel)
  {
    scalar_t* mine = acc.data() + static_cast<int64_t>(omp_get_thread_num()) * b * n_acc;
#pragma omp for schedule(static)
    for (int64_t idx = 0; idx < b * p; ++idx) {
      const int64_t bi = idx / p, pix = idx % p;
      const scalar_t* cfb = cf + bi * (k + 3) * 2;
      const scalar_t* dpb = dp + bi * k * 2;
      const scalar_t x = tps::pixel_centre<scalar_t>(pix % w, w), y = tps::pixel_centre<scalar_t>(pix / w, h);
      scalar_t tx, ty;
      tps::evaluate(cfb, dpb, k, x, y, &tx, &ty);
      ps[2 * idx] = tx;
      ps[2 * idx + 1] = ty;
      const tps::Taps<scalar_t> taps(tx, ty, h, w);
      scalar_t gtx = 0, gty = 0;
      for (int64_t ch = 0; ch < c; ++ch) {
        const int64_t plane = (bi * c + ch) * p;
        taps.add_point_grad(img + plane, h, w, g[plane + pix], &gtx, &gty);
      }
      scalar_t* accb = mine + bi * n_acc;
      tps::add_map_grad(cfb, dpb, k, x, y, gtx, gty, [accb](int64_t i, scalar_t v) { accb[i] += v; });
    }
  }
  for (int t = 0; t < threads; ++t) {
    for (int64_t bi = 0; bi < b; ++bi) {
      const scalar_t* a = acc.data() + (static_cast<int64_t>(t) * b + bi) * n_acc;
      for (int64_t i = 0; i < 2 * (k + 3); ++i) dc[bi * 2 * (k + 3) + i] += a[i];
      for (int64_t i = 0; i < 2 * k; ++i) dd[bi * 2 * k + i] += a[2 * (k + 3) + i];
    }
  }
  omp_for(b * c, 4 * p, [&](int64_t plane_idx) {
    const int64_t bi = plane_idx / c;
    const scalar_t* gp = g + plane_idx * p;
    scalar_t* dip = di + plane_idx * p;
    for (int64_t pix = 0; pix < p; ++pix) {
      const tps::Taps<scalar_t> taps(ps[2 * (bi * p + pix)], ps[2 * (bi * p + pix) + 1], h, w);
      const scalar_t gv = gp[pix], wx0 = scalar_t(1) - taps.wx1, wy0 = scalar_t(1) - taps.wy1;
      if (taps.in_y0 && taps.in_x0) dip[taps.y0 * w + taps.x0] += gv * wy0 * wx0;
      if (taps.in_y0 && taps.in_x1) dip[taps.y0 * w + taps.x0 + 1] += gv * wy0 * taps.wx1;
      if (taps.in_y1 && taps.in_x0) dip[(taps.y0 + 1) * w + taps.x0] += gv * taps.wy1 * wx0;
      if (taps.in_y1 && taps.in_x1) dip[(taps.y0 + 1) * w + taps.x0 + 1] += gv * taps.wy1 * taps.wx1;
    }
  });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> tps_sample_backward_cpu(const at::Tensor& grad, const at::Tensor& image,
                                                                       const at::Tensor& coeffs,
                                                                       const at::Tensor& dst) {
  check_tps_sample_args(image, coeffs, dst, c10::DeviceType::CPU);
  check_like(grad, "grad", image, "image", "tps_sample backward");
  TORCH_CHECK(grad.sizes() == image.sizes() && grad.is_contiguous(), "tps_sample backward: expected a contiguous ",
              "grad of shape ", image.sizes(), ", got ", grad.sizes());
  const int64_t b = image.size(0), c = image.size(1), h = image.size(2), w = image.size(3), k = dst.size(1);
  at::Tensor d_image = at::zeros_like(image);
  at::Tensor d_coeffs = at::zeros_like(coeffs);
  at::Tensor d_dst = at::zeros_like(dst);
  if (image.numel() == 0) return {d_image, d_coeffs, d_dst};
  at::Tensor pos = at::empty({b, h * w, 2}, image.options());
  AT_DISPATCH_FLOATING_TYPES(image.scalar_type(), "tps_sample_backward_cpu", [&] {
    tps_sample_backward_kernel<scalar_t>(image.const_data_ptr<scalar_t>(), grad.const_data_ptr<scalar_t>(),
                                         coeffs.const_data_ptr<scalar_t>(), dst.const_data_ptr<scalar_t>(),
                                         pos.data_ptr<scalar_t>(), d_coeffs.data_ptr<scalar_t>(),
                                         d_dst.data_ptr<scalar_t>(), d_image.data_ptr<scalar_t>(), b, c, h, w, k);
  });
  return {d_image, d_coeffs, d_dst};
}

}  // namespace

TORCH_LIBRARY_IMPL(impasto, CPU, m) {
  m.impl("tps_sample", &tps_sample_cpu);
  m.impl("_tps_sample_backward", &tps_sample_backward_cpu);
}

}  // namespace impasto
