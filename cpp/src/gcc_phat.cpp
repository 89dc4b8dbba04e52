#include "avsync/gcc_phat.hpp"
#include "avsync/parallel.hpp"

#include <pocketfft.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
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

// Turns the half-complex spectra A (in fa) and B (in fb) into the PHAT-weighted cross spectrum
// B * conj(A) / |B * conj(A)|, in place in fb. A tiny floor, relative to the mean magnitude,
// keeps bins where either signal is silent from exploding. Both passes over the spectrum are
// split between `shares` threads (the spectra of long signals do not fit in any cache).
void phat_cross_spectrum(const float* fa, float* fb, size_t n, size_t shares = 1) {
  const size_t half = (n - 1) / 2;  // complex bins 1..half; bin 0 and (n even) bin n/2 are real
  auto bins = [&](size_t share, size_t& k0, size_t& k1) {
    k0 = 1 + half * share / shares;
    k1 = 1 + half * (share + 1) / shares;
  };
  std::vector<double> totals(shares, 0.0);
  run_shares(shares, [&](size_t share) {
    size_t k0, k1;
    bins(share, k0, k1);
    double total = 0.0;
    for (size_t k = k0; k < k1; ++k) {
      const float ar = fa[2 * k - 1], ai = fa[2 * k];
      const float br = fb[2 * k - 1], bi = fb[2 * k];
      const float re = br * ar + bi * ai;
      const float im = bi * ar - br * ai;
      fb[2 * k - 1] = re;
      fb[2 * k] = im;
      total += std::sqrt(re * re + im * im);
    }
    totals[share] = total;
  });
  double total = 0.0;
  for (double t : totals) total += t;
  fb[0] = fa[0] * fb[0];
  total += std::fabs(fb[0]);
  if (n % 2 == 0) {
    fb[n - 1] = fa[n - 1] * fb[n - 1];
    total += std::fabs(fb[n - 1]);
  }
  const float eps = float(1e-7 * total / double(half + 1 + (n % 2 == 0)) + 1e-30);
  fb[0] = fb[0] / (std::fabs(fb[0]) + eps);
  if (n % 2 == 0) fb[n - 1] = fb[n - 1] / (std::fabs(fb[n - 1]) + eps);
  run_shares(shares, [&](size_t share) {
    size_t k0, k1;
    bins(share, k0, k1);
    for (size_t k = k0; k < k1; ++k) {
      const float re = fb[2 * k - 1], im = fb[2 * k];
      const float inv = 1.0f / (std::sqrt(re * re + im * im) + eps);
      fb[2 * k - 1] = re * inv;
      fb[2 * k] = im * inv;
    }
  });
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

// The inverse transform of the half-complex spectrum in r (length n, even) as two independent
// transforms of length n / 2, one per thread: one FFT of a long signal cannot use two cores.
// The even output samples are the inverse of E_j = R_j + R_{j+n/2}, the odd ones of
// O_j = (R_j - R_{j+n/2}) e^{2 pi i j / n} (both Hermitian, so half-complex of length n / 2).
// `scratch` (n values) receives E and O; the result replaces r. The same arithmetic runs
// whatever the number of threads, so results do not depend on it.
void inverse_in_halves(float* r, float* scratch, size_t n, const RealPlan& half_plan, size_t shares) {
  const size_t h = n / 2;
  float* e = scratch;
  float* o = scratch + h;
  // R_k of the half-complex layout, for 0 <= k <= n / 2.
  auto bin = [&](size_t k, double& re, double& im) {
    if (k == 0 || k == h) {
      re = r[k == 0 ? 0 : n - 1];
      im = 0.0;
    } else {
      re = r[2 * k - 1];
      im = r[2 * k];
    }
  };
  const size_t last = h / 2;  // bins 0..last of E and O; bin last is real when h is even
  run_shares(shares, [&](size_t share) {
    const size_t j0 = (last + 1) * share / shares, j1 = (last + 1) * (share + 1) / shares;
    constexpr size_t kReseed = 1024;  // exact twiddles this often keep the recurrence accurate
    const double step = 2.0 * M_PI / double(n);
    const double cs = std::cos(step), sn = std::sin(step);
    double wr = 0.0, wi = 0.0;
    for (size_t j = j0; j < j1; ++j) {
      if ((j - j0) % kReseed == 0) {
        wr = std::cos(step * double(j));
        wi = std::sin(step * double(j));
      }
      double ar, ai, br, bi;
      bin(j, ar, ai);
      bin(h - j, br, bi);
      bi = -bi;  // R_{j + n/2} = conj(R_{n/2 - j})
      const double er = ar + br, ei = ai + bi;
      const double dr = ar - br, di = ai - bi;
      const double odr = dr * wr - di * wi, odi = dr * wi + di * wr;
      if (j == 0) {
        e[0] = float(er);
        o[0] = float(odr);
      } else if (2 * j == h) {
        e[h - 1] = float(er);
        o[h - 1] = float(odr);
      } else {
        e[2 * j - 1] = float(er);
        e[2 * j] = float(ei);
        o[2 * j - 1] = float(odr);
        o[2 * j] = float(odi);
      }
      const double nr = wr * cs - wi * sn;
      wi = wr * sn + wi * cs;
      wr = nr;
    }
  });
  run_shares(shares, [&](size_t share) {
    if (shares == 1 || share == 0) half_plan.exec(e, 1.0f / float(n), false);
    if (shares == 1 || share == 1) half_plan.exec(o, 1.0f / float(n), false);
  });
  run_shares(shares, [&](size_t share) {
    const size_t m0 = h * share / shares, m1 = h * (share + 1) / shares;
    for (size_t m = m0; m < m1; ++m) {
      r[2 * m] = e[m];
      r[2 * m + 1] = o[m];
    }
  });
}

// The full-length correlation, circular, in a buffer of n = fft size values.
Buffer full_correlation(const float* a, size_t na, const float* b, size_t nb, int64_t max_lag,
                        int threads) {
  // No wrap-around inside the searched lags needs n >= max(na, nb) + max_lag; the full range
  // needs n >= na + nb - 1.
  size_t need = na + nb - 1;
  if (max_lag >= 0) need = std::min(need, std::max(na, nb) + size_t(max_lag));
  // Long transforms (the common case) use two threads: the two forward ones side by side, the
  // inverse in two halves, which needs an even length.
  const bool long_transform = need >= (size_t(1) << 15);
  size_t n = fft_size(need);
  while (long_transform && n % 2 == 1) n = fft_size(n + 1);
  const size_t shares = long_transform && threads >= 2 ? 2 : 1;
  const RealPlan plan(n);
  Buffer fa(n), fb(n);
  run_shares(shares, [&](size_t share) {
    if (shares == 1 || share == 0) {
      load_padded(fb, b, nb);
      plan.exec(fb.data(), 1.0f, true);
    }
    if (shares == 1 || share == 1) {
      load_padded(fa, a, na);
      plan.exec(fa.data(), 1.0f, true);
    }
  });
  phat_cross_spectrum(fa.data(), fb.data(), n, shares);
  if (long_transform && n % 2 == 0) {
    inverse_in_halves(fb.data(), fa.data(), n, RealPlan(n / 2), shares);
  } else {
    fa.release();  // early: inputs can be hours long
    plan.exec(fb.data(), 1.0f / float(n), false);
  }
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
                  int64_t guard, int threads) {
  check_input(a, na, b, nb);
  const Buffer circ = full_correlation(a, na, b, nb, max_lag, resolve_threads(threads));
  int64_t lo, hi;
  lag_range(na, nb, max_lag, lo, hi);
  return analyse(LagView(circ.data(), circ.size(), lo, hi), std::max<int64_t>(guard, 1));
}

int64_t gcc_phat_correlation(const float* a, size_t na, const float* b, size_t nb,
                             int64_t max_lag, std::vector<float>& out) {
  check_input(a, na, b, nb);
  const Buffer circ = full_correlation(a, na, b, nb, max_lag, 1);
  int64_t lo, hi;
  lag_range(na, nb, max_lag, lo, hi);
  LagView(circ.data(), circ.size(), lo, hi).copy_to(out);
  return lo;
}

std::vector<PhatPeak> gcc_phat_windowed(const float* a, size_t na, const float* b, size_t nb,
                                        size_t window, size_t hop, int64_t max_lag,
                                        int64_t center_lag, int64_t guard, int threads,
                                        std::vector<double>& centers) {
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
      plan.exec(fa.data(), 1.0f, true);
      plan.exec(fb.data(), 1.0f, true);
      phat_cross_spectrum(fa.data(), fb.data(), n);
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
