// Per-pixel thin-plate-spline math shared by the CPU and the CUDA kernels (no torch headers,
// so the .cu files compile with plain nvcc).
//
// Convention: points are (x, y) in [-1, 1] with align_corners=False; coefficients are a
// (K+3)x2 row-major array: rows 0..K-1 the radial weights w_k, rows K, K+1, K+2 the affine
// terms for 1, x, y, so T(p) = c_K + c_{K+1} x + c_{K+2} y + sum_k w_k U(|p - dst_k|^2) with
// U(d2) = d2 * log(max(d2, kLogFloor)) (U(0) = 0). Sampling is bilinear with zero padding at
// pixel coordinate ix = ((x + 1) * W - 1) / 2, exactly as grid_sample(align_corners=False).
#pragma once

#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define IMPASTO_HD __host__ __device__ __forceinline__
#else
#define IMPASTO_HD inline
#endif

namespace impasto {
namespace tps {

// Floor of the squared distance inside U's logarithm; must equal impasto.ops.reference.TPS_LOG_FLOOR.
constexpr double kLogFloor = 1e-30;

IMPASTO_HD float log_(float v) { return logf(v); }
IMPASTO_HD double log_(double v) { return log(v); }
IMPASTO_HD float floor_(float v) { return floorf(v); }
IMPASTO_HD double floor_(double v) { return floor(v); }

// U(d2) = d2 * log(max(d2, floor)) and dU/d(d2) as autograd differentiates that expression
// (log(d2) + 1 above the floor, log(floor) below it), from one logarithm.
template <typename T>
IMPASTO_HD T radial(T d2) {
  return d2 * log_(d2 > T(kLogFloor) ? d2 : T(kLogFloor));
}
template <typename T>
IMPASTO_HD void radial_and_derivative(T d2, T* u, T* du) {
  const bool above = d2 > T(kLogFloor);
  const T l = log_(above ? d2 : T(kLogFloor));
  *u = d2 * l;
  *du = above ? l + T(1) : l;
}

// Normalised centre of pixel index i along a side of n pixels.
template <typename T>
IMPASTO_HD T pixel_centre(int64_t i, int64_t n) {
  return T(2 * i + 1) / T(n) - T(1);
}

// T(x, y) for one batch item: coeffs (K+3)x2, dst Kx2.
template <typename T>
IMPASTO_HD void evaluate(const T* coeffs, const T* dst, int64_t k, T x, T y, T* tx, T* ty) {
  T ox = coeffs[2 * k] + coeffs[2 * k + 2] * x + coeffs[2 * k + 4] * y;
  T oy = coeffs[2 * k + 1] + coeffs[2 * k + 3] * x + coeffs[2 * k + 5] * y;
  for (int64_t i = 0; i < k; ++i) {
    const T dx = x - dst[2 * i], dy = y - dst[2 * i + 1];
    const T u = radial(dx * dx + dy * dy);
    ox += coeffs[2 * i] * u;
    oy += coeffs[2 * i + 1] * u;
  }
  *tx = ox;
  *ty = oy;
}

// The four bilinear taps of a normalised point on an h x w plane (zero padding).
template <typename T>
struct Taps {
  int64_t x0, y0;
  T wx1, wy1;
  bool in_x0, in_x1, in_y0, in_y1;

  IMPASTO_HD Taps(T gx, T gy, int64_t h, int64_t w) {
    T ix = ((gx + T(1)) * T(w) - T(1)) / T(2);
    T iy = ((gy + T(1)) * T(h) - T(1)) / T(2);
    // Far outside (or NaN) is clamped to a position whose taps all fall outside: value and gradient 0.
    ix = ix > T(-2) ? (ix < T(w + 1) ? ix : T(w + 1)) : T(-2);
    iy = iy > T(-2) ? (iy < T(h + 1) ? iy : T(h + 1)) : T(-2);
    const T fx = floor_(ix), fy = floor_(iy);
    x0 = static_cast<int64_t>(fx);
    y0 = static_cast<int64_t>(fy);
    wx1 = ix - fx;
    wy1 = iy - fy;
    in_x0 = x0 >= 0 && x0 < w;
    in_x1 = x0 + 1 >= 0 && x0 + 1 < w;
    in_y0 = y0 >= 0 && y0 < h;
    in_y1 = y0 + 1 >= 0 && y0 + 1 < h;
  }

  // The four corner values of `plane` (0 outside): v00 (y0, x0), v01 (y0, x1), v10 (y1, x0), v11 (y1, x1).
  IMPASTO_HD void corners(const T* plane, int64_t w, T* v00, T* v01, T* v10, T* v11) const {
    *v00 = (in_y0 && in_x0) ? plane[y0 * w + x0] : T(0);
    *v01 = (in_y0 && in_x1) ? plane[y0 * w + x0 + 1] : T(0);
    *v10 = (in_y1 && in_x0) ? plane[(y0 + 1) * w + x0] : T(0);
    *v11 = (in_y1 && in_x1) ? plane[(y0 + 1) * w + x0 + 1] : T(0);
  }

  IMPASTO_HD T sample(const T* plane, int64_t w) const {
    T v00, v01, v10, v11;
    corners(plane, w, &v00, &v01, &v10, &v11);
    const T wx0 = T(1) - wx1, wy0 = T(1) - wy1;
    return wy0 * (wx0 * v00 + wx1 * v01) + wy1 * (wx0 * v10 + wx1 * v11);
  }

  // d sample / d(gx, gy) for one plane, added (times g) to *gx, *gy.
  IMPASTO_HD void add_point_grad(const T* plane, int64_t h, int64_t w, T g, T* gx, T* gy) const {
    T v00, v01, v10, v11;
    corners(plane, w, &v00, &v01, &v10, &v11);
    const T wx0 = T(1) - wx1, wy0 = T(1) - wy1;
    *gx += g * (wy0 * (v01 - v00) + wy1 * (v11 - v10)) * T(w) / T(2);
    *gy += g * (wx0 * (v10 - v00) + wx1 * (v11 - v01)) * T(h) / T(2);
  }
};

// Gradient contributions of one pixel p = (x, y) whose map value T(p) received (gtx, gty):
// d_coeffs ((K+3)x2) and d_dst (Kx2) are incremented through add(index, value), which the
// CPU kernel points at a thread-local array and the CUDA kernel at shared-memory atomics.
template <typename T, typename Add>
IMPASTO_HD void add_map_grad(const T* coeffs, const T* dst, int64_t k, T x, T y, T gtx, T gty, Add add) {
  for (int64_t i = 0; i < k; ++i) {
    const T dx = x - dst[2 * i], dy = y - dst[2 * i + 1];
    T u, du;
    radial_and_derivative(dx * dx + dy * dy, &u, &du);
    add(2 * i, gtx * u);
    add(2 * i + 1, gty * u);
    // d T / d dst_i = (w_i . gT) * U'(d2) * d(d2)/d dst_i, with d(d2)/d dst_i = -2 (p - dst_i).
    const T s = (gtx * coeffs[2 * i] + gty * coeffs[2 * i + 1]) * du * T(-2);
    add(2 * (k + 3) + 2 * i, s * dx);
    add(2 * (k + 3) + 2 * i + 1, s * dy);
  }
  add(2 * k, gtx);
  add(2 * k + 1, gty);
  add(2 * k + 2, gtx * x);
  add(2 * k + 3, gty * x);
  add(2 * k + 4, gtx * y);
  add(2 * k + 5, gty * y);
}

}  // namespace tps
}  // namespace impasto
