// Box-averaging a decoded Y plane down to a small grid, without any colour conversion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace avsync {

// For each of `out` bins along an axis of `src` pixels, the half-open source range it averages.
// When shrinking, the ranges tile the axis; when enlarging, each bin takes its nearest pixel.
struct BinRanges {
  std::vector<int> begin, end;
};
BinRanges make_bins(int src, int out);

// Box-averages a plane of `T` samples (stride in elements between rows, `step` elements between
// pixels, value = (sample >> shift) * scale) to out_w x out_h floats.
template <typename T>
void box_average(const T* plane, ptrdiff_t row_stride, int step, int shift, float scale,
                 const BinRanges& cols, const BinRanges& rows, float* out,
                 std::vector<uint32_t>& column_sums);

}  // namespace avsync
