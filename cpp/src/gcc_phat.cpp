#include "avsync/gcc_phat.hpp"
#include "avsync/parallel.hpp"

#include <pocketfft.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

namespace avsync {

namespace {

using RealPlan = pocketfft::detail::pocketfft_r<float>;

size_t fft_size(size_t minimum) { return pocketfft::detail::util::good_size_real(std::max<size_t>(minimum, 2)); }

// More threads than this only adds start-up cost and memory (each holds two FFT buffers).
constexpr int kMaxThreads = 64;

// Bounds window sizes so that window + 2 * max_lag cannot overflow.
constexpr int64_t kMaxWindowLag = int64_t(1) << 40;

int resolve_threads(int threads) {
  if (threads > 0) return std::min(threads, kMaxThreads);
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? std::min(int(hw), kMaxThreads) : 1;
}

// Turns the half-complex spectra A (in fa) and B (in fb) into the PHAT-weighted cross spectrum
// B * conj(A) / |B * conj(A)|, in place in fb. A tiny floor, relative to the mean magnitude,
// keeps bins where either signal is silent from exploding.
void phat_cross_spectrum(const float* fa, float* fb, size_t n) {
  const size_t half = (n - 1) / 2;
  double total = 0.0;
  fb[0] = fa[0] * fb[0];
  total += std::fabs(fb[0]);
  for (size_t k = 1; k <= half; ++k) {
    const float ar = fa[2 * k - 1], ai = fa[2 * k];
    const float br = fb[2 * k - 1], bi = fb[2 * k];
    const float re = br * ar + bi * ai;
    const float im = bi * ar - br * ai;
    fb[2 * k - 1] = re;
    fb[2 * k] = im;
    total += std::sqrt(double(re) * re + double(im) * im);
  }
  if (n % 2 == 0) {
    fb[n - 1] = fa[n - 1] * fb[n - 1];
    total += std::fabs(fb[n - 1]);
  }
  const float eps = float(1e-7 * total / double(half + 1 + (n % 2 == 0)) + 1e-30);
  fb[0] = fb[0] / (std::fabs(fb[0]) + eps);
  for (size_t k = 1; k <= half; ++k) {
    const float re = fb[2 * k - 1], im = fb[2 * k];
    const float inv = 1.0f / (std::sqrt(re * re + im * im) + eps);
    fb[2 * k - 1] = re * inv;
    fb[2 * k] = im * inv;
  }
  if (n % 2 == 0) fb[n - 1] = fb[n - 1] / (std::fabs(fb[n - 1]) + eps);
}

// Copies the circular correlation for lags [lo, hi] into out (out[k - lo]).
void gather_lags(const float* circ, size_t n, int64_t lo, int64_t hi, std::vector<float>& out) {
  out.resize(size_t(hi - lo + 1));
  for (int64_t k = lo; k <= hi; ++k) {
    out[size_t(k - lo)] = circ[k >= 0 ? size_t(k) : size_t(int64_t(n) + k)];
  }
}

// Peak, runner-up outside the guard band, and noise statistics of a run of correlation values.
PhatPeak analyse(const std::vector<float>& vals, int64_t first_lag, int64_t guard) {
  PhatPeak r;
  const size_t m = vals.size();
  r.lags_searched = int64_t(m);
  if (m == 0) return r;
  size_t imax = size_t(std::max_element(vals.begin(), vals.end()) - vals.begin());
  r.peak = vals[imax];
  r.lag = first_lag + int64_t(imax);
  const size_t g0 = imax > size_t(guard) ? imax - size_t(guard) : 0;
  const size_t g1 = std::min(m, imax + size_t(guard) + 1);
  double sum = 0.0, sum2 = 0.0, second = -1e300;
  size_t count = 0;
  for (size_t i = 0; i < m; ++i) {
    if (i >= g0 && i < g1) continue;
    const double v = vals[i];
    sum += v;
    sum2 += v * v;
    second = std::max(second, v);
    ++count;
  }
  if (count > 1) {
    r.noise_mean = sum / double(count);
    r.noise_std = std::sqrt(std::max(0.0, sum2 / double(count) - r.noise_mean * r.noise_mean));
    r.second_peak = second;
  }
  r.delay = double(r.lag) + refine_peak(vals.data(), m, imax);
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

// The full-length correlation, circular, in a buffer of n = fft size values.
std::vector<float> full_correlation(const float* a, size_t na, const float* b, size_t nb,
                                    int64_t max_lag, int threads, size_t& n_out) {
  // No wrap-around inside the searched lags needs n >= max(na, nb) + max_lag; the full range
  // needs n >= na + nb - 1.
  size_t need = na + nb - 1;
  if (max_lag >= 0) need = std::min(need, std::max(na, nb) + size_t(max_lag));
  const size_t n = fft_size(need);
  n_out = n;
  RealPlan plan(n);
  std::vector<float> fa(n, 0.0f), fb(n, 0.0f);
  std::copy(a, a + na, fa.begin());
  std::copy(b, b + nb, fb.begin());
  if (threads >= 2 && n >= (size_t(1) << 15)) {
    // One 1-D FFT cannot use two cores; the two forward transforms can.
    run_shares(2, [&](size_t share) { plan.exec(share == 0 ? fb.data() : fa.data(), 1.0f, true); });
  } else {
    plan.exec(fa.data(), 1.0f, true);
    plan.exec(fb.data(), 1.0f, true);
  }
  phat_cross_spectrum(fa.data(), fb.data(), n);
  std::vector<float>().swap(fa);  // release early: inputs can be hours long
  plan.exec(fb.data(), 1.0f / float(n), false);
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
  size_t n = 0;
  std::vector<float> circ = full_correlation(a, na, b, nb, max_lag, resolve_threads(threads), n);
  int64_t lo, hi;
  lag_range(na, nb, max_lag, lo, hi);
  std::vector<float> vals;
  gather_lags(circ.data(), n, lo, hi, vals);
  std::vector<float>().swap(circ);
  return analyse(vals, lo, std::max<int64_t>(guard, 1));
}

int64_t gcc_phat_correlation(const float* a, size_t na, const float* b, size_t nb,
                             int64_t max_lag, std::vector<float>& out) {
  check_input(a, na, b, nb);
  size_t n = 0;
  std::vector<float> circ = full_correlation(a, na, b, nb, max_lag, 1, n);
  int64_t lo, hi;
  lag_range(na, nb, max_lag, lo, hi);
  gather_lags(circ.data(), n, lo, hi, out);
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
    std::vector<float> fa(n), fb(n), vals;
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
      gather_lags(fb.data(), n, -2 * L, 0, vals);
      PhatPeak p = analyse(vals, -2 * L, guard);
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
  constexpr int64_t kHalfWidth = 8;
  if (n < 3) return 0.0;
  const int64_t j0 = std::max<int64_t>(0, int64_t(i) - kHalfWidth);
  const int64_t j1 = std::min<int64_t>(int64_t(n) - 1, int64_t(i) + kHalfWidth);
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
