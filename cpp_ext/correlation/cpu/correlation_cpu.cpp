// CPU kernels of the correlation ops (C++ loops, OpenMP over positions) and their registration.
// The formulas and the backward derivation are in ../correlation_impl.h.
#include <ATen/Dispatch.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>

#include "../../common/cpu_parallel.h"
#include "../correlation_impl.h"

namespace impasto {
namespace {

// Positions per block of the layout-changing loops (BxCxP <-> BxPxC): the inner loop runs over a
// block's positions, so one side is read or written contiguously and the other stays in L1.
constexpr int64_t kBlock = 64;

struct CpuCorrelation {
  static std::tuple<at::Tensor, at::Tensor> normalize_features(const at::Tensor& f) {
    const int64_t b = f.size(0), c = f.size(1), p = f.size(2), blocks = (p + kBlock - 1) / kBlock;
    at::Tensor f_hat = at::empty({b, p, c}, f.options());
    at::Tensor inv = at::empty({b, p}, f.options());
    AT_DISPATCH_FLOATING_TYPES(f.scalar_type(), "normalize_features_cpu", [&] {
      const scalar_t* src = f.const_data_ptr<scalar_t>();
      scalar_t* dst = f_hat.data_ptr<scalar_t>();
      scalar_t* iv = inv.data_ptr<scalar_t>();
      omp_for(b * blocks, kBlock * c, [&](int64_t job) {
        const int64_t bi = job / blocks, p0 = (job % blocks) * kBlock, n = std::min(kBlock, p - p0);
        scalar_t v[kBlock] = {};
        for (int64_t k = 0; k < c; ++k) {
          const scalar_t* row = src + (bi * c + k) * p + p0;
          for (int64_t i = 0; i < n; ++i) v[i] += row[i] * row[i];
        }
        for (int64_t i = 0; i < n; ++i) {
          v[i] = scalar_t(1) / std::sqrt(v[i] + scalar_t(kEps));
          iv[bi * p + p0 + i] = v[i];
        }
        scalar_t* out = dst + (bi * p + p0) * c;
        for (int64_t k = 0; k < c; ++k) {
          const scalar_t* row = src + (bi * c + k) * p + p0;
          for (int64_t i = 0; i < n; ++i) out[i * c + k] = row[i] * v[i];
        }
      });
    });
    return {f_hat, inv};
  }

  static at::Tensor normalize_features_backward(const at::Tensor& df_hat, const at::Tensor& f_hat,
                                                const at::Tensor& inv) {
    const int64_t b = f_hat.size(0), p = f_hat.size(1), c = f_hat.size(2), blocks = (p + kBlock - 1) / kBlock;
    at::Tensor df = at::empty({b, c, p}, f_hat.options());
    AT_DISPATCH_FLOATING_TYPES(f_hat.scalar_type(), "normalize_features_backward_cpu", [&] {
      const scalar_t* g = df_hat.const_data_ptr<scalar_t>();
      const scalar_t* fh = f_hat.const_data_ptr<scalar_t>();
      const scalar_t* iv = inv.const_data_ptr<scalar_t>();
      scalar_t* out = df.data_ptr<scalar_t>();
      omp_for(b * blocks, 2 * kBlock * c, [&](int64_t job) {
        const int64_t bi = job / blocks, p0 = (job % blocks) * kBlock, n = std::min(kBlock, p - p0);
        const int64_t base = (bi * p + p0) * c;
        scalar_t dot[kBlock];
        for (int64_t i = 0; i < n; ++i) dot[i] = impasto::dot(fh + base + i * c, g + base + i * c, c);
        for (int64_t k = 0; k < c; ++k) {
          scalar_t* row = out + (bi * c + k) * p + p0;
          for (int64_t i = 0; i < n; ++i) {
            row[i] = iv[bi * p + p0 + i] * (g[base + i * c + k] - fh[base + i * c + k] * dot[i]);
          }
        }
      });
    });
    return df;
  }

  static void normalize_rows_(const at::Tensor& s, const at::Tensor& inv) {
    const int64_t o = s.size(0), l = s.size(1), n = s.size(2);
    AT_DISPATCH_FLOATING_TYPES(s.scalar_type(), "normalize_rows_cpu", [&] {
      scalar_t* x = s.data_ptr<scalar_t>();
      scalar_t* iv = inv.data_ptr<scalar_t>();
      omp_for(o * n, l, [&](int64_t on) {
        scalar_t* row = x + (on / n) * l * n + on % n;
        const scalar_t ss = n == 1 ? impasto::dot(row, row, l) : strided_sum_sq(row, l, n);
        const scalar_t v = scalar_t(1) / std::sqrt(ss + scalar_t(kEps));
        iv[on] = v;
        for (int64_t t = 0; t < l; ++t) row[t * n] *= v;
      });
    });
  }

  template <typename T>
  static T strided_sum_sq(const T* row, int64_t l, int64_t n) {
    T ss = 0;
    for (int64_t t = 0; t < l; ++t) ss += row[t * n] * row[t * n];
    return ss;
  }

  static at::Tensor normalize_rows_backward(const at::Tensor& g, const at::Tensor& m, const at::Tensor& inv) {
    const int64_t o = g.size(0), l = g.size(1), n = g.size(2);
    at::Tensor ds = at::empty_like(g);
    AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "normalize_rows_backward_cpu", [&] {
      const scalar_t* gp = g.const_data_ptr<scalar_t>();
      const scalar_t* mp = m.const_data_ptr<scalar_t>();
      const scalar_t* iv = inv.const_data_ptr<scalar_t>();
      scalar_t* out = ds.data_ptr<scalar_t>();
      omp_for(o * n, l, [&](int64_t on) {
        const int64_t base = (on / n) * l * n + on % n;
        scalar_t dot = 0;
        if (n == 1) {
          dot = impasto::dot(gp + base, mp + base, l);
        } else {
          for (int64_t t = 0; t < l; ++t) dot += gp[base + t * n] * mp[base + t * n];
        }
        for (int64_t t = 0; t < l; ++t) out[base + t * n] = iv[on] * (gp[base + t * n] - mp[base + t * n] * dot);
      });
    });
    return ds;
  }

  static at::Tensor local_dots(const at::Tensor& a_hat, const at::Tensor& g_hat, int64_t h, int64_t w,
                               int64_t radius) {
    const int64_t b = a_hat.size(0), p = a_hat.size(1), c = a_hat.size(2), side = 2 * radius + 1;
    at::Tensor s = at::empty({b, side * side, p}, a_hat.options());
    AT_DISPATCH_FLOATING_TYPES(a_hat.scalar_type(), "local_dots_cpu", [&] {
      const scalar_t* a = a_hat.const_data_ptr<scalar_t>();
      const scalar_t* g = g_hat.const_data_ptr<scalar_t>();
      scalar_t* out = s.data_ptr<scalar_t>();
      omp_for(b * p, side * side * c, [&](int64_t bp) {
        const int64_t bi = bp / p, pi = bp % p, i = pi / w, j = pi % w;
        const scalar_t* av = a + bp * c;
        for (int64_t dy = -radius; dy <= radius; ++dy) {
          for (int64_t dx = -radius; dx <= radius; ++dx) {
            const int64_t y = i + dy, x = j + dx, win = (dy + radius) * side + dx + radius;
            scalar_t dot = 0;
            if (y >= 0 && y < h && x >= 0 && x < w) {
              dot = impasto::dot(av, g + (bi * p + y * w + x) * c, c);
            }
            out[(bi * side * side + win) * p + pi] = dot;
          }
        }
      });
    });
    return s;
  }

  static std::tuple<at::Tensor, at::Tensor> local_dots_backward(const at::Tensor& ds, const at::Tensor& a_hat,
                                                                const at::Tensor& g_hat, int64_t h, int64_t w,
                                                                int64_t radius) {
    const int64_t b = a_hat.size(0), p = a_hat.size(1), c = a_hat.size(2), side = 2 * radius + 1;
    at::Tensor da = at::zeros_like(a_hat);
    at::Tensor dg = at::zeros_like(g_hat);
    AT_DISPATCH_FLOATING_TYPES(a_hat.scalar_type(), "local_dots_backward_cpu", [&] {
      const scalar_t* d = ds.const_data_ptr<scalar_t>();
      const scalar_t* a = a_hat.const_data_ptr<scalar_t>();
      const scalar_t* g = g_hat.const_data_ptr<scalar_t>();
      scalar_t* dap = da.data_ptr<scalar_t>();
      scalar_t* dgp = dg.data_ptr<scalar_t>();
      // Each output position gathers its own terms, so threads never write the same element.
      omp_for(b * p, 2 * side * side * c, [&](int64_t bp) {
        const int64_t bi = bp / p, pi = bp % p, i = pi / w, j = pi % w;
        for (int64_t dy = -radius; dy <= radius; ++dy) {
          for (int64_t dx = -radius; dx <= radius; ++dx) {
            const int64_t win = (dy + radius) * side + dx + radius;
            const int64_t y = i + dy, x = j + dx;  // da(i,j) += ds(win, i, j) * g_hat(i+dy, j+dx)
            if (y >= 0 && y < h && x >= 0 && x < w) {
              const scalar_t coef = d[(bi * side * side + win) * p + pi];
              const scalar_t* gv = g + (bi * p + y * w + x) * c;
              for (int64_t k = 0; k < c; ++k) dap[bp * c + k] += coef * gv[k];
            }
            const int64_t ys = i - dy, xs = j - dx;  // dg(i,j) += ds(win, i-dy, j-dx) * a_hat(i-dy, j-dx)
            if (ys >= 0 && ys < h && xs >= 0 && xs < w) {
              const int64_t q = ys * w + xs;
              const scalar_t coef = d[(bi * side * side + win) * p + q];
              const scalar_t* av = a + (bi * p + q) * c;
              for (int64_t k = 0; k < c; ++k) dgp[bp * c + k] += coef * av[k];
            }
          }
        }
      });
    });
    return {da, dg};
  }
};

std::tuple<at::Tensor, at::Tensor> correlation4d_forward_cpu(const at::Tensor& fc, const at::Tensor& fg) {
  check_correlation4d_args(fc, fg, c10::DeviceType::CPU);
  return correlation4d_forward_impl<CpuCorrelation>(fc, fg);
}

std::tuple<at::Tensor, at::Tensor> correlation4d_backward_cpu(const at::Tensor& grad, const at::Tensor& fc,
                                                              const at::Tensor& fg, const at::Tensor& out,
                                                              const at::Tensor& inv_row) {
  check_correlation4d_args(fc, fg, c10::DeviceType::CPU);
  return correlation4d_backward_impl<CpuCorrelation>(grad, fc, fg, out, inv_row);
}

std::tuple<at::Tensor, at::Tensor> local_correlation_forward_cpu(const at::Tensor& fc, const at::Tensor& fg,
                                                                 int64_t radius) {
  check_local_correlation_args(fc, fg, radius, c10::DeviceType::CPU);
  return local_correlation_forward_impl<CpuCorrelation>(fc, fg, radius);
}

std::tuple<at::Tensor, at::Tensor> local_correlation_backward_cpu(const at::Tensor& grad, const at::Tensor& fc,
                                                                  const at::Tensor& fg, const at::Tensor& out,
                                                                  const at::Tensor& inv, int64_t radius) {
  check_local_correlation_args(fc, fg, radius, c10::DeviceType::CPU);
  return local_correlation_backward_impl<CpuCorrelation>(grad, fc, fg, out, inv, radius);
}

}  // namespace

TORCH_LIBRARY_IMPL(impasto, CPU, m) {
  m.impl("_correlation4d_forward", &correlation4d_forward_cpu);
  m.impl("_correlation4d_backward", &correlation4d_backward_cpu);
  m.impl("_local_correlation_forward", &local_correlation_forward_cpu);
  m.impl("_local_correlation_backward", &local_correlation_backward_cpu);
}

}  // namespace impasto
