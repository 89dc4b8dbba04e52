#include "avsync/gcc_phat.hpp"
#include "avsync/parallel.hpp"

#include <pocketfft.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <complex>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

namespace avsync {

namespace {

using RealPlan = pocketfft::detail::pocketfft_r<float>;

size_t fft_size(size_t minimum) { return pocketfft::detail::util::good_size_real(std::max<size_t>(minimum, 2)); }

// More threads than this only adds start-up cost and memory (each holds two FFT buffers).
constexpr int kMaxThreads = 64;

// Half-width (samples) of the neighbourhood of the peak that the sub-sample fit uses.
constexpr size_t kFitHalfWidth = 8;

// Bounds window sizes so that window + 2 * max_lag cannot overflow.
constexpr int64_t kMaxWindowLag = int64_t(1) << 40;

int resolve_threads(int threads) {
  if (threads > 0) return std::min(threads, kMaxThreads);
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? std::min(int(hw), kMaxThreads) : 1;
}

// A float buffer for long signals, not zero-filled: every element is written before it is read,
// and a 10-minute pair needs three buffers of 77 MB, each touched once less this way.
class Buffer {
 public:
  explicit Buffer(size_t n) : data_(new float[std::max<size_t>(n, 1)]), n_(n) {}
  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  size_t size() const { return n_; }
  void release() { data_.reset(); }

 private:
  std::unique_ptr<float[]> data_;
  size_t n_;
};

// Copies x (length m) into the front of buf and zero-pads the rest.
void load_padded(Buffer& buf, const float* x, size_t m) {
  std::copy(x, x + m, buf.data());
  std::fill(buf.data() + m, buf.data() + buf.size(), 0.0f);
}

// The raised-cosine fade applied to the first and last `taper` samples of a signal of `len`
// (at most a quarter of it at each end): 1 in between.
float taper_weight(size_t t, size_t len, size_t taper) {
  const size_t T = std::min(taper, len / 4);
  if (T == 0) return 1.0f;
  const size_t d = t < T ? t : (t >= len - T ? len - 1 - t : T);
  if (d >= T) return 1.0f;
  return float(0.5 - 0.5 * std::cos(M_PI * (double(d) + 0.5) / double(T)));
}

// Fades the first and last `taper` samples of buf[0, len) in and out (see taper_weight).
void apply_taper(float* buf, size_t len, int64_t taper) {
  const size_t T = std::min<size_t>(size_t(std::max<int64_t>(taper, 0)), len / 4);
  for (size_t i = 0; i < T; ++i) {
    const float w = taper_weight(i, len, T);
    buf[i] *= w;
    buf[len - 1 - i] *= w;
  }
}

double sum_of_squares(const float* x, size_t n) {
  double total = 0.0;
  for (size_t i = 0; i < n; ++i) total += double(x[i]) * x[i];
  return total;
}

// What the PHAT weighting adds to |C| before dividing by it, so that bins where either signal is
// silent do not explode: 1e-7 of sqrt(sum a^2 * sum b^2), which bounds the mean |A_k| |B_k|
// (Parseval), known before any transform.
float phat_floor(double energy_a, double energy_b) {
  return float(1e-7 * std::sqrt(energy_a * energy_b) + 1e-30);
}

// Turns the half-complex spectra A (in fa) and B (in fb) into the PHAT-weighted cross spectrum
// B * conj(A) / (|B * conj(A)| + eps), in place in fb.
void phat_cross_spectrum(const float* fa, float* fb, size_t n, float eps) {
  const size_t half = (n - 1) / 2;  // complex bins 1..half; bin 0 and (n even) bin n/2 are real
  fb[0] = fa[0] * fb[0];
  fb[0] = fb[0] / (std::fabs(fb[0]) + eps);
  for (size_t k = 1; k <= half; ++k) {
    const float ar = fa[2 * k - 1], ai = fa[2 * k];
    const float br = fb[2 * k - 1], bi = fb[2 * k];
    const float re = br * ar + bi * ai;
    const float im = bi * ar - br * ai;
    const float w = 1.0f / (std::sqrt(re * re + im * im) + eps);
    fb[2 * k - 1] = re * w;
    fb[2 * k] = im * w;
  }
  if (n % 2 == 0) {
    fb[n - 1] = fa[n - 1] * fb[n - 1];
    fb[n - 1] = fb[n - 1] / (std::fabs(fb[n - 1]) + eps);
  }
}

// The correlation values for lags first_lag .. first_lag + size() - 1, read from a circular
// correlation of length n without copying it: negative lags sit at its end.
class LagView {
 public:
  LagView(const float* circ, size_t n, int64_t lo, int64_t hi) : first_(lo) {
    if (lo < 0) {
      neg_ = circ + (int64_t(n) + lo);
      n_neg_ = size_t(std::min<int64_t>(hi, -1) - lo + 1);
    }
    if (hi >= 0) {
      pos_ = circ + std::max<int64_t>(lo, 0);
      n_pos_ = size_t(hi - std::max<int64_t>(lo, 0) + 1);
    }
  }
  size_t size() const { return n_neg_ + n_pos_; }
  int64_t first_lag() const { return first_; }
  float operator[](size_t i) const { return i < n_neg_ ? neg_[i] : pos_[i - n_neg_]; }
  // Calls f(index, value) for indices [begin, end), segment by segment (tight loops).
  template <typename F>
  void for_each(size_t begin, size_t end, F&& f) const {
    for (size_t i = begin; i < std::min(end, n_neg_); ++i) f(i, neg_[i]);
    for (size_t i = std::max(begin, n_neg_); i < end; ++i) f(i, pos_[i - n_neg_]);
  }
  void copy_to(std::vector<float>& out) const {
    out.resize(size());
    std::copy(neg_, neg_ + n_neg_, out.begin());
    std::copy(pos_, pos_ + n_pos_, out.begin() + std::ptrdiff_t(n_neg_));
  }

 private:
  const float* neg_ = nullptr;
  const float* pos_ = nullptr;
  size_t n_neg_ = 0, n_pos_ = 0;
  int64_t first_;
};

// Peak, runner-up outside the guard band, and noise statistics of a run of correlation values.
PhatPeak analyse(const LagView& vals, int64_t guard) {
  PhatPeak r;
  const size_t m = vals.size();
  r.lags_searched = int64_t(m);
  if (m == 0) return r;
  size_t imax = 0;
  float best = vals[0];
  vals.for_each(0, m, [&](size_t i, float v) {
    if (v > best) {
      best = v;
      imax = i;
    }
  });
  r.peak = best;
  r.lag = vals.first_lag() + int64_t(imax);
  const size_t g0 = imax > size_t(guard) ? imax - size_t(guard) : 0;
  const size_t g1 = std::min(m, imax + size_t(guard) + 1);
  double sum = 0.0, sum2 = 0.0;
  float second = -std::numeric_limits<float>::infinity();
  auto noise = [&](size_t, float v) {
    sum += v;
    sum2 += double(v) * v;
    second = std::max(second, v);
  };
  vals.for_each(0, g0, noise);
  vals.for_each(g1, m, noise);
  const size_t count = g0 + (m - g1);
  if (count > 1) {
    r.noise_mean = sum / double(count);
    r.noise_std = std::sqrt(std::max(0.0, sum2 / double(count) - r.noise_mean * r.noise_mean));
    r.second_peak = second;
  }
  // The sub-sample fit needs only the neighbourhood of the peak.
  const size_t w0 = imax > kFitHalfWidth ? imax - kFitHalfWidth : 0;
  const size_t w1 = std::min(m, imax + kFitHalfWidth + 1);
  float around[2 * kFitHalfWidth + 1];
  for (size_t i = w0; i < w1; ++i) around[i - w0] = vals[i];
  r.delay = double(r.lag) + refine_peak(around, w1 - w0, imax - w0);
  r.confidence = phat_confidence(r.peak, r.second_peak, r.noise_mean, r.noise_std);
  return r;
}

// Index of the first NaN or infinity in x, or n when all are finite. One NaN would turn every
// correlation value into NaN and the "peak" into an arbitrary lag, so such input is refused.
// Tests the exponent bits, which vectorises (std::isfinite in a loop does not).
size_t first_non_finite(const float* x, size_t n) {
  constexpr size_t kBlock = 4096;
  for (size_t start = 0; start < n; start += kBlock) {
    const size_t end = std::min(n, start + kBlock);
    uint32_t bad = 0;
    for (size_t i = start; i < end; ++i) {
      uint32_t bits;
      std::memcpy(&bits, x + i, sizeof(bits));
      bad |= uint32_t((bits & 0x7f800000u) == 0x7f800000u);
    }
    if (bad) {
      for (size_t i = start; i < end; ++i) {
        if (!std::isfinite(x[i])) return i;
      }
    }
  }
  return n;
}

void check_input(const float* a, size_t na, const float* b, size_t nb) {
  if (na == 0 || nb == 0) throw std::invalid_argument("gcc_phat needs two non-empty signals");
  const size_t ia = first_non_finite(a, na);
  if (ia < na) throw std::invalid_argument("a holds a non-finite value (NaN or infinity) at index " + std::to_string(ia));
  const size_t ib = first_non_finite(b, nb);
  if (ib < nb) throw std::invalid_argument("b holds a non-finite value (NaN or infinity) at index " + std::to_string(ib));
}

// --- Long correlations: complex FFTs in four steps ----------------------------------------------
//
// pocketfft runs a single long 1-D transform one value at a time, but several transforms at once
// with SIMD (4 lanes of float with SSE2, more with AVX). A transform of length n = n1 * n2 is
// done as n2 transforms of length n1 (the columns of the n1 x n2 array the data already is),
// twiddle factors, and n1 transforms of length n2 (the rows): the spectrum comes out transposed,
// X[k1 + n1 * k2] at row k1, column k2. The PHAT weighting does not care about order, and the
// inverse, run in the reverse order, turns a transposed spectrum back into samples in natural
// order, so nothing is ever transposed. Both signals go through one complex transform
// (z = a + i b), and the real inverse through a complex one of half the length.

using Complex = std::complex<float>;

// n = n1 * n2 with n2 even and n1 the largest divisor below sqrt(n) that allows it; n1 == 0 when
// n cannot be split so.
void four_step_shape(size_t n, size_t& n1, size_t& n2) {
  n1 = n2 = 0;
  if (n % 2 != 0) return;
  for (size_t d = 2; d * d <= n; ++d) {
    if (n % d == 0 && (n / d) % 2 == 0) n1 = d;
  }
  if (n1) n2 = n / n1;
}

// Transforms along the columns [c0, c1) of a rows x (row_stride) complex array. A few columns at
// a time are copied into a small contiguous block first: read straight from the big array, each
// value of a column would sit on its own memory page.
void fft_columns(Complex* z, size_t rows, size_t row_stride, size_t c0, size_t c1, bool forward, float fct) {
  constexpr size_t kBlock = 16;
  std::vector<Complex> block(kBlock * rows);
  for (size_t c = c0; c < c1; c += kBlock) {
    const size_t w = std::min(kBlock, c1 - c);
    for (size_t r = 0; r < rows; ++r) std::copy_n(z + r * row_stride + c, w, block.data() + r * w);
    const pocketfft::shape_t shape{rows, w};
    const pocketfft::stride_t stride{ptrdiff_t(w * sizeof(Complex)), ptrdiff_t(sizeof(Complex))};
    pocketfft::c2c(shape, stride, stride, {0}, forward, block.data(), block.data(), fct, 1);
    for (size_t r = 0; r < rows; ++r) std::copy_n(block.data() + r * w, w, z + r * row_stride + c);
  }
}

// Transforms along the rows [r0, r1) (each `len` values, `row_stride` apart).
void fft_rows(Complex* z, size_t row_stride, size_t len, size_t r0, size_t r1, bool forward, float fct) {
  if (r1 <= r0) return;
  const pocketfft::shape_t shape{r1 - r0, len};
  const pocketfft::stride_t stride{ptrdiff_t(row_stride * sizeof(Complex)), ptrdiff_t(sizeof(Complex))};
  pocketfft::c2c(shape, stride, stride, {1}, forward, z + r0 * row_stride, z + r0 * row_stride, fct, 1);
}

// z[r][c] *= exp(sign * 2 pi i * r * c / n) for rows [r0, r1), columns [0, len). The factors come
// from a rotation in double precision, restarted from an exact value every 256 columns.
void twiddle(Complex* z, size_t row_stride, size_t len, size_t n, double sign, size_t r0, size_t r1) {
  const double unit = sign * 2.0 * M_PI / double(n);
  for (size_t r = r0; r < r1; ++r) {
    float* row = reinterpret_cast<float*>(z + r * row_stride);
    const double step = unit * double(r);
    const double cr = std::cos(step), ci = std::sin(step);
    double wr = 1.0, wi = 0.0;
    for (size_t c = 0; c < len; ++c) {
      if (c % 256 == 0) {
        wr = std::cos(step * double(c));
        wi = std::sin(step * double(c));
      }
      const float xr = row[2 * c], xi = row[2 * c + 1];
      const float fr = float(wr), fi = float(wi);
      row[2 * c] = xr * fr - xi * fi;
      row[2 * c + 1] = xr * fi + xi * fr;
      const double nr = wr * cr - wi * ci;
      wi = wr * ci + wi * cr;
      wr = nr;
    }
  }
}

// [begin, end) of share `share` of `shares` over `total` items.
void share_range(size_t total, size_t share, size_t shares, size_t& begin, size_t& end) {
  begin = total * share / shares;
  end = total * (share + 1) / shares;
}

// The circular PHAT correlation of a and b (zero-padded to n = n1 * n2), as n floats in natural
// order at the front of `buffer` (2n floats of room).
void four_step_correlation(const float* a, size_t na, const float* b, size_t nb, size_t n1, size_t n2,
                           size_t shares, size_t taper, Buffer& buffer) {
  const size_t n = n1 * n2, h2 = n2 / 2, h = n / 2;
  Complex* z = reinterpret_cast<Complex*>(buffer.data());
  // z = a + i b; then the column transforms of the forward four-step.
  run_shares(shares, [&](size_t share) {
    size_t t0, t1;
    share_range(n, share, shares, t0, t1);
    for (size_t t = t0; t < t1; ++t) {
      float x = t < na ? a[t] : 0.0f, y = t < nb ? b[t] : 0.0f;
      if (t < taper || (t < na && t + taper >= na)) x *= taper_weight(t, na, taper);
      if (t < taper || (t < nb && t + taper >= nb)) y *= taper_weight(t, nb, taper);
      z[t] = Complex(x, y);
    }
  });
  const float eps = phat_floor(sum_of_squares(a, na), sum_of_squares(b, nb));
  run_shares(shares, [&](size_t share) {
    size_t c0, c1;
    share_range(n2, share, shares, c0, c1);
    fft_columns(z, n1, n2, c0, c1, true, 1.0f);
  });

  // Then, a few rows at a time while they are in cache: the row transforms (Z[k1 + n1 k2] at
  // (k1, k2)), the PHAT cross spectrum, and the first half of the inverse.
  //
  // C = B conj(A) with A_k = (Z_k + conj(Z_-k)) / 2 and B_k = (Z_k - conj(Z_-k)) / 2i; index -k
  // of (k1, k2) sits at (n1 - k1, n2 - 1 - k2), or at (0, -k2 mod n2) in row 0, so rows go in
  // pairs (k1, n1 - k1).
  //
  // The inverse is real: F_j = E_j + i O_j, with E_j = C_j + C_{j+n/2} and
  // O_j = (C_j - C_{j+n/2}) e^{2 pi i j / n}, inverts (length n / 2) to c[2m] + i c[2m+1]. In the
  // transposed layout j + n/2 is column k2 + h2 of the same row: each row folds onto its first
  // half, and the inverse four-step runs on those halves: rows, twiddles, then columns.
  const size_t pairs = n1 / 2 + 1;  // k1 = 0 .. n1 / 2 and their partners
  run_shares(shares, [&](size_t share) {
    constexpr size_t kPairsAtOnce = 8;
    size_t p0, p1;
    share_range(pairs, share, shares, p0, p1);
    std::vector<Complex> own(n2), other(n2);
    std::vector<float> c(2 * n2);
    std::vector<size_t> rows;
    const double unit = 2.0 * M_PI / double(n);
    const double cr = std::cos(unit * double(n1)), ci = std::sin(unit * double(n1));

    // Row k1 of C from the spectra of its row (zo) and its partner row (zm), folded into out.
    auto cross_fold = [&](const Complex* zo, const Complex* zm, size_t k1, float* out) {
      for (size_t k2 = 0; k2 < n2; ++k2) {
        const size_t m2 = k1 == 0 ? (n2 - k2) % n2 : n2 - 1 - k2;
        const float zr = zo[k2].real(), zi = zo[k2].imag();
        const float mr = zm[m2].real(), mi = -zm[m2].imag();       // conj(Z_-k)
        const float ar = 0.5f * (zr + mr), ai = 0.5f * (zi + mi);  // A_k
        const float br = 0.5f * (zi - mi), bi = -0.5f * (zr - mr);  // B_k
        const float xr = br * ar + bi * ai, xi = bi * ar - br * ai;  // B_k conj(A_k)
        const float w = 1.0f / (std::sqrt(xr * xr + xi * xi) + eps);
        c[2 * k2] = xr * w;
        c[2 * k2 + 1] = xi * w;
      }
      double wr = 1.0, wi = 0.0;
      for (size_t k2 = 0; k2 < h2; ++k2) {
        if (k2 % 256 == 0) {  // e^{2 pi i j / n}, j = k1 + n1 k2, exact every 256 steps
          wr = std::cos(unit * double(k1 + n1 * k2));
          wi = std::sin(unit * double(k1 + n1 * k2));
        }
        const float lr = c[2 * k2], li = c[2 * k2 + 1];
        const float hr = c[2 * (k2 + h2)], hi = c[2 * (k2 + h2) + 1];
        const float er = lr + hr, ei = li + hi, dr = lr - hr, di = li - hi;
        const float fr = float(wr), fi = float(wi);
        const float orr = dr * fr - di * fi, oi = dr * fi + di * fr;
        out[2 * k2] = er - oi;  // E + i O
        out[2 * k2 + 1] = ei + orr;
        const double nr = wr * cr - wi * ci;
        wi = wr * ci + wi * cr;
        wr = nr;
      }
    };
    // Runs f(r0, r1) over the sorted rows, one call per run of consecutive rows.
    auto for_runs = [&](auto&& f) {
      for (size_t i = 0; i < rows.size();) {
        size_t j = i + 1;
        while (j < rows.size() && rows[j] == rows[j - 1] + 1) ++j;
        f(rows[i], rows[j - 1] + 1);
        i = j;
      }
    };

    for (size_t q0 = p0; q0 < p1; q0 += kPairsAtOnce) {
      const size_t q1 = std::min(p1, q0 + kPairsAtOnce);
      rows.clear();
      for (size_t k1 = q0; k1 < q1; ++k1) {
        rows.push_back(k1);
        if ((n1 - k1) % n1 != k1) rows.push_back(n1 - k1);
      }
      std::sort(rows.begin(), rows.end());
      for_runs([&](size_t r0, size_t r1) {
        twiddle(z, n2, n2, n, -1.0, r0, r1);
        fft_rows(z, n2, n2, r0, r1, true, 1.0f);
      });
      for (size_t k1 = q0; k1 < q1; ++k1) {
        const size_t m1 = (n1 - k1) % n1;
        Complex* row = z + k1 * n2;
        Complex* mirror = z + m1 * n2;
        std::copy_n(row, n2, own.begin());
        std::copy_n(mirror, n2, other.begin());
        cross_fold(own.data(), other.data(), k1, reinterpret_cast<float*>(row));
        if (m1 != k1) cross_fold(other.data(), own.data(), m1, reinterpret_cast<float*>(mirror));
      }
      for_runs([&](size_t r0, size_t r1) {
        fft_rows(z, n2, h2, r0, r1, false, 1.0f);
        twiddle(z, n2, h2, h, +1.0, r0, r1);
      });
    }
  });
  run_shares(shares, [&](size_t share) {
    size_t c0, c1;
    share_range(h2, share, shares, c0, c1);
    fft_columns(z, n1, n2, c0, c1, false, 1.0f / float(n));
  });
  // Sample m = h2 * m1 + m2 sits at (m1, m2): close the gaps between rows, front to back.
  for (size_t m1 = 1; m1 < n1; ++m1) std::memmove(z + m1 * h2, z + m1 * n2, h2 * sizeof(Complex));
}

// The full-length correlation, circular: n values (the FFT length) at the front of the result.
Buffer full_correlation(const float* a, size_t na, const float* b, size_t nb, int64_t max_lag,
                        int threads, int64_t taper, size_t& n_out) {
  const size_t fade = size_t(std::max<int64_t>(taper, 0));
  // No wrap-around inside the searched lags needs n >= max(na, nb) + max_lag; the full range
  // needs n >= na + nb - 1.
  size_t need = na + nb - 1;
  if (max_lag >= 0) need = std::min(need, std::max(na, nb) + size_t(max_lag));
  const size_t shares = threads >= 2 ? 2 : 1;
  if (need >= (size_t(1) << 15)) {
    size_t n = fft_size(need), n1 = 0, n2 = 0;
    for (four_step_shape(n, n1, n2); n1 == 0; four_step_shape(n, n1, n2)) n = fft_size(n + 1);
    Buffer z(2 * n);
    four_step_correlation(a, na, b, nb, n1, n2, shares, fade, z);
    n_out = n;
    return z;
  }
  // Short: two real transforms and a real inverse.
  const size_t n = fft_size(need);
  const RealPlan plan(n);
  Buffer fa(n), fb(n);
  load_padded(fa, a, na);
  load_padded(fb, b, nb);
  apply_taper(fa.data(), na, taper);
  apply_taper(fb.data(), nb, taper);
  plan.exec(fa.data(), 1.0f, true);
  plan.exec(fb.data(), 1.0f, true);
  phat_cross_spectrum(fa.data(), fb.data(), n, phat_floor(sum_of_squares(a, na), sum_of_squares(b, nb)));
  plan.exec(fb.data(), 1.0f / float(n), false);
  n_out = n;
  return fb;
}

// The searched lag range: [-max_lag, max_lag] clipped to where the signals overlap.
void lag_range(size_t na, size_t nb, int64_t max_lag, int64_t& lo, int64_t& hi) {
  lo = -(int64_t(na) - 1);
  hi = int64_t(nb) - 1;
  if (max_lag >= 0) {
    lo = std::max(lo, -max_lag);
    hi = std::min(hi, max_lag);
  }
}

}  // namespace

PhatPeak gcc_phat(const float* a, size_t na, const float* b, size_t nb, int64_t max_lag,
                  int64_t guard, int threads, int64_t taper) {
  check_input(a, na, b, nb);
  size_t n = 0;
  const Buffer circ = full_correlation(a, na, b, nb, max_lag, resolve_threads(threads), taper, n);
  int64_t lo, hi;
  lag_range(na, nb, max_lag, lo, hi);
  return analyse(LagView(circ.data(), n, lo, hi), std::max<int64_t>(guard, 1));
}

int64_t gcc_phat_correlation(const float* a, size_t na, const float* b, size_t nb,
                             int64_t max_lag, std::vector<float>& out, int64_t taper) {
  check_input(a, na, b, nb);
  size_t n = 0;
  const Buffer circ = full_correlation(a, na, b, nb, max_lag, 1, taper, n);
  int64_t lo, hi;
  lag_range(na, nb, max_lag, lo, hi);
  LagView(circ.data(), n, lo, hi).copy_to(out);
  return lo;
}

std::vector<PhatPeak> gcc_phat_windowed(const float* a, size_t na, const float* b, size_t nb,
                                        size_t window, size_t hop, int64_t max_lag,
                                        int64_t center_lag, int64_t guard, int threads,
                                        std::vector<double>& centers, int64_t taper) {
  check_input(a, na, b, nb);
  if (window < 16) throw std::invalid_argument("window must be at least 16 samples");
  if (hop == 0) throw std::invalid_argument("hop must be positive");
  if (max_lag < 1) throw std::invalid_argument("max_lag must be at least 1 sample");
  if (max_lag > kMaxWindowLag || window > size_t(kMaxWindowLag)) {
    throw std::invalid_argument("window and max_lag must be below 2^40 samples");
  }
  std::vector<size_t> starts;
  for (size_t s = 0; s + window <= nb; s += hop) starts.push_back(s);
  if (starts.empty()) starts.push_back(0);  // b shorter than one window: one short window
  centers.resize(starts.size());
  std::vector<PhatPeak> peaks(starts.size());

  const int64_t L = max_lag;
  const size_t la = window + 2 * size_t(L);
  // b's window at local time t holds a at local time t - (d - center - L); the searched local
  // lags are [-2L, 0], which never wrap when n >= la.
  const size_t n = fft_size(la);
  const RealPlan plan(n);
  guard = std::max<int64_t>(guard, 1);

  std::atomic<bool> failed{false};  // set when a share fails, so the others stop early
  auto window_share = [&](size_t first, size_t step) {
    std::vector<float> fa(n), fb(n);
    for (size_t w = first; w < starts.size() && !failed; w += step) {
      const size_t s = starts[w];
      const size_t len_b = std::min(window, nb - s);
      centers[w] = double(s) + 0.5 * double(len_b);
      std::fill(fb.begin(), fb.end(), 0.0f);
      std::copy(b + s, b + s + len_b, fb.begin());
      std::fill(fa.begin(), fa.end(), 0.0f);
      const int64_t as = int64_t(s) - center_lag - L;
      const int64_t from = std::max<int64_t>(as, 0);
      const int64_t to = std::min<int64_t>(as + int64_t(la), int64_t(na));
      double energy_a = 0.0, energy_b = 0.0;
      for (int64_t i = from; i < to; ++i) {
        fa[size_t(i - as)] = a[i];
        energy_a += double(a[i]) * a[i];
      }
      for (size_t i = 0; i < len_b; ++i) energy_b += double(fb[i]) * fb[i];
      // Needs at least a window's worth of a, and sound in both.
      if (to - from < int64_t(len_b) || energy_a <= 1e-12 || energy_b <= 1e-12) {
        peaks[w] = PhatPeak{};
        peaks[w].delay = double(center_lag);
        peaks[w].lag = center_lag;
        continue;
      }
      apply_taper(fb.data(), len_b, taper);
      apply_taper(fa.data() + (from - as), size_t(to - from), taper);
      plan.exec(fa.data(), 1.0f, true);
      plan.exec(fb.data(), 1.0f, true);
      phat_cross_spectrum(fa.data(), fb.data(), n, phat_floor(energy_a, energy_b));
      plan.exec(fb.data(), 1.0f / float(n), false);
      PhatPeak p = analyse(LagView(fb.data(), n, -2 * L, 0), guard);
      const double shift = double(center_lag + L);
      p.delay += shift;
      p.lag += center_lag + L;
      peaks[w] = p;
    }
  };
  const size_t nthreads = std::max<size_t>(1, std::min<size_t>(size_t(resolve_threads(threads)), starts.size()));
  run_shares(nthreads, [&](size_t share) {
    try {
      window_share(share, nthreads);
    } catch (...) {
      failed = true;
      throw;
    }
  });
  return peaks;
}

double phat_confidence(double peak, double second_peak, double noise_mean, double noise_std) {
  if (!(noise_std > 0.0) || !(peak > noise_mean)) return 0.0;
  const double z1 = (peak - noise_mean) / noise_std;
  const double z2 = (second_peak - noise_mean) / noise_std;
  const double excess = z1 - z2 - kExcessFloor;
  if (excess <= 0.0) return 0.0;
  return 1.0 - std::exp(-excess / kExcessScale);
}

double refine_peak(const float* c, size_t n, size_t i) {
  // The PHAT correlation of a pure delay d is a sinc centred on d (all frequencies at unit
  // weight). Fitting A * sinc(j - x) by least squares to the samples j around the integer peak
  // finds x = d exactly for that shape, whatever the fit's width: the fit's score
  // sum(c_j s_j) / sqrt(sum(s_j^2)) is largest where the sinc and the samples align
  // (Cauchy-Schwarz). A windowed-sinc interpolation, by contrast, pulls the peak towards the
  // nearest sample by a few hundredths of a sample.
  if (n < 3) return 0.0;
  const int64_t j0 = std::max<int64_t>(0, int64_t(i) - int64_t(kFitHalfWidth));
  const int64_t j1 = std::min<int64_t>(int64_t(n) - 1, int64_t(i) + int64_t(kFitHalfWidth));
  auto score = [&](double x) {
    double s = 0.0, q = 0.0;
    for (int64_t j = j0; j <= j1; ++j) {
      const double u = M_PI * (x - double(j));
      const double w = std::fabs(u) < 1e-9 ? 1.0 : std::sin(u) / u;
      s += double(c[j]) * w;
      q += w * w;
    }
    return s / std::sqrt(q);
  };
  double lo = double(i) - 1.0, hi = double(i) + 1.0;
  if (i == 0) lo = 0.0;
  if (i + 1 >= n) hi = double(n - 1);
  // Golden-section search for the maximum; the main lobe is unimodal within one sample.
  const double g = 0.5 * (std::sqrt(5.0) - 1.0);
  double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
  double f1 = score(x1), f2 = score(x2);
  for (int it = 0; it < 48; ++it) {
    if (f1 < f2) {
      lo = x1; x1 = x2; f1 = f2; x2 = lo + g * (hi - lo); f2 = score(x2);
    } else {
      hi = x2; x2 = x1; f2 = f1; x1 = hi - g * (hi - lo); f1 = score(x1);
    }
  }
  double best = 0.5 * (lo + hi);
  if (score(best) < score(double(i))) best = double(i);  // never worse than the integer peak
  return best - double(i);
}

}  // namespace avsync
