#include "avsync/box_average.hpp"

#include <algorithm>

// The vertical sums below run over every decoded pixel (2 M per 1080p frame) and are the one
// part of motion energy that competes with the decoder for the cores. Built for the baseline
// x86-64 ISA they use SSE2; where the compiler and loader support function multi-versioning,
// an AVX2 copy is picked at load time on CPUs that have it. The results are identical.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define AVSYNC_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define AVSYNC_SIMD_CLONES
#endif

namespace avsync {

namespace {

// sums[x] += row[x] for a contiguous row of 8-bit samples: 16-bit sums are enough for up to
// 257 rows and twice as wide per vector as 32-bit ones.
AVSYNC_SIMD_CLONES void add_row(uint16_t* __restrict sums, const uint8_t* __restrict row, int n) {
  for (int x = 0; x < n; ++x) sums[x] = uint16_t(sums[x] + row[x]);
}

// sums[x] += row[x] for a contiguous row of samples up to 16 bits.
AVSYNC_SIMD_CLONES void add_row(uint32_t* __restrict sums, const uint16_t* __restrict row, int n) {
  for (int x = 0; x < n; ++x) sums[x] += row[x];
}

void add_row(uint32_t* __restrict sums, const uint8_t* __restrict row, int n) {
  for (int x = 0; x < n; ++x) sums[x] += row[x];
}

// The general case: samples `step` elements apart, shifted right by `shift` (packed formats,
// MSB-aligned high bit depths such as P010).
template <typename T>
void add_row_strided(uint32_t* sums, const T* row, int n, int step, int shift) {
  for (int x = 0; x < n; ++x) sums[x] += uint32_t(row[ptrdiff_t(x) * step] >> shift);
}

// Averages the column sums of one output row into its out_w bins.
template <typename S>
void bin_row(const S* sums, const BinRanges& cols, float row_scale, float* out) {
  const int out_w = int(cols.begin.size());
  for (int i = 0; i < out_w; ++i) {
    const int x0 = cols.begin[size_t(i)], x1 = cols.end[size_t(i)];
    uint64_t s = 0;
    for (int x = x0; x < x1; ++x) s += sums[x];
    out[i] = float(s) * row_scale / float(x1 - x0);
  }
}

}  // namespace

BinRanges make_bins(int src, int out) {
  BinRanges r;
  r.begin.resize(size_t(out));
  r.end.resize(size_t(out));
  for (int i = 0; i < out; ++i) {
    if (src >= out) {
      r.begin[size_t(i)] = int(int64_t(i) * src / out);
      r.end[size_t(i)] = int(int64_t(i + 1) * src / out);
    } else {
      int c = std::min(src - 1, int((int64_t(2 * i + 1) * src) / (2 * int64_t(out))));
      r.begin[size_t(i)] = c;
      r.end[size_t(i)] = c + 1;
    }
  }
  return r;
}

template <typename T>
void box_average(const T* plane, ptrdiff_t row_stride, int step, int shift, float scale,
                 const BinRanges& cols, const BinRanges& rows, float* out,
                 std::vector<uint32_t>& column_sums) {
  const int out_w = int(cols.begin.size());
  const int out_h = int(rows.begin.size());
  const int src_w = cols.end.back();
  // Room for 32-bit sums; the 16-bit path uses the front half of the same buffer.
  column_sums.resize(size_t(src_w));
  uint32_t* sums32 = column_sums.data();
  uint16_t* sums16 = reinterpret_cast<uint16_t*>(sums32);
  const bool contiguous = step == 1 && shift == 0;
  for (int j = 0; j < out_h; ++j) {
    const int y0 = rows.begin[size_t(j)], y1 = rows.end[size_t(j)];
    const float row_scale = scale / float(y1 - y0);
    float* out_row = out + ptrdiff_t(j) * out_w;
    // Vertical sums first (contiguous, vectorised), then the horizontal bins.
    if constexpr (sizeof(T) == 1) {
      if (contiguous && (y1 - y0) * 255 <= 65535) {
        std::fill(sums16, sums16 + src_w, uint16_t(0));
        for (int y = y0; y < y1; ++y) add_row(sums16, plane + ptrdiff_t(y) * row_stride, src_w);
        bin_row(sums16, cols, row_scale, out_row);
        continue;
      }
    }
    std::fill(sums32, sums32 + src_w, 0u);
    for (int y = y0; y < y1; ++y) {
      const T* row = plane + ptrdiff_t(y) * row_stride;
      if (contiguous) {
        add_row(sums32, row, src_w);
      } else {
        add_row_strided(sums32, row, src_w, step, shift);
      }
    }
    bin_row(sums32, cols, row_scale, out_row);
  }
}

template void box_average<uint8_t>(const uint8_t*, ptrdiff_t, int, int, float, const BinRanges&,
                                   const BinRanges&, float*, std::vector<uint32_t>&);
template void box_average<uint16_t>(const uint16_t*, ptrdiff_t, int, int, float, const BinRanges&,
                                    const BinRanges&, float*, std::vector<uint32_t>&);

}  // namespace avsync
