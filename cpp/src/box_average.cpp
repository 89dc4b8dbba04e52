#include "avsync/box_average.hpp"

#include <algorithm>

namespace avsync {

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
  column_sums.resize(size_t(src_w));
  uint32_t* sums = column_sums.data();
  for (int j = 0; j < out_h; ++j) {
    const int y0 = rows.begin[size_t(j)], y1 = rows.end[size_t(j)];
    std::fill(sums, sums + src_w, 0u);
    // Vertical sums first: contiguous and vectorisable for the common step == 1 case.
    for (int y = y0; y < y1; ++y) {
      const T* row = plane + ptrdiff_t(y) * row_stride;
      if (step == 1 && shift == 0) {
        for (int x = 0; x < src_w; ++x) sums[x] += row[x];
      } else {
        for (int x = 0; x < src_w; ++x) sums[x] += uint32_t(row[ptrdiff_t(x) * step] >> shift);
      }
    }
    const float row_scale = scale / float(y1 - y0);
    for (int i = 0; i < out_w; ++i) {
      const int x0 = cols.begin[size_t(i)], x1 = cols.end[size_t(i)];
      uint64_t s = 0;
      for (int x = x0; x < x1; ++x) s += sums[x];
      out[ptrdiff_t(j) * out_w + i] = float(s) * row_scale / float(x1 - x0);
    }
  }
}

template void box_average<uint8_t>(const uint8_t*, ptrdiff_t, int, int, float, const BinRanges&,
                                   const BinRanges&, float*, std::vector<uint32_t>&);
template void box_average<uint16_t>(const uint16_t*, ptrdiff_t, int, int, float, const BinRanges&,
                                    const BinRanges&, float*, std::vector<uint32_t>&);

}  // namespace avsync
