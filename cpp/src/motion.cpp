#include "avsync/motion.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace avsync {

GridRoi roi_to_grid(double x, double y, double w, double h, int src_w, int src_h, int grid_w,
                    int grid_h) {
  GridRoi r{0, 0, grid_w, grid_h};
  if (!std::isfinite(x) || !std::isfinite(y) || !std::isfinite(w) || !std::isfinite(h)) {
    throw std::invalid_argument("roi values must be finite numbers");
  }
  if (w <= 0 || h <= 0) return r;
  if (x < 0 || y < 0 || x >= src_w || y >= src_h) {
    throw std::invalid_argument("roi (" + std::to_string(x) + ", " + std::to_string(y) +
                                ") lies outside the " + std::to_string(src_w) + "x" +
                                std::to_string(src_h) + " frame");
  }
  const double sx = double(grid_w) / src_w, sy = double(grid_h) / src_h;
  r.x0 = std::clamp(int(std::floor(x * sx)), 0, grid_w - 1);
  r.y0 = std::clamp(int(std::floor(y * sy)), 0, grid_h - 1);
  r.x1 = std::clamp(int(std::ceil((x + w) * sx)), r.x0 + 1, grid_w);
  r.y1 = std::clamp(int(std::ceil((y + h) * sy)), r.y0 + 1, grid_h);
  return r;
}

float mean_abs_diff(const float* a, const float* b, int width, const GridRoi& roi) {
  double total = 0.0;
  for (int y = roi.y0; y < roi.y1; ++y) {
    const float* pa = a + ptrdiff_t(y) * width;
    const float* pb = b + ptrdiff_t(y) * width;
    float row = 0.f;
    for (int x = roi.x0; x < roi.x1; ++x) row += std::fabs(pa[x] - pb[x]);
    total += row;
  }
  return float(total / (double(roi.x1 - roi.x0) * double(roi.y1 - roi.y0)));
}

MotionReader::MotionReader(const std::string& path, int width, int height, double roi_x,
                           double roi_y, double roi_w, double roi_h, int threads)
    : decoder_(path, width, height, VideoDecoder::Output::kLuma, threads) {
  roi_ = roi_to_grid(roi_x, roi_y, roi_w, roi_h, decoder_.source_width(),
                     decoder_.source_height(), width, height);
  prev_.resize(size_t(width) * size_t(height));
  cur_.resize(prev_.size());
}

size_t MotionReader::read(double* times, float* energy, float* mean_luma, size_t max_values) {
  const int w = decoder_.width();
  size_t n = 0;
  while (n < max_values) {
    double t;
    if (decoder_.read_luma(cur_.data(), &t, 1) == 0) break;
    ++frames_;
    if (frames_ > 1) {
      times[n] = 0.5 * (prev_time_ + t);
      energy[n] = mean_abs_diff(cur_.data(), prev_.data(), w, roi_);
      // The later frame's mean luma over the whole picture (exposure changes, flashes).
      float sum = 0.f;
      for (float v : cur_) sum += v;
      mean_luma[n] = sum / float(cur_.size());
      ++n;
    }
    std::swap(prev_, cur_);
    prev_time_ = t;
  }
  return n;
}

}  // namespace avsync
