// Motion energy of consecutive low-resolution luma frames (mean absolute luma change inside a
// region of interest), computed while decoding so no frame buffer of the video ever exists.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "avsync/decode.hpp"

namespace avsync {

// A region of interest on the low-resolution grid: [x0, x1) x [y0, y1).
struct GridRoi {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

// Maps a region in source pixels (x, y, w, h) onto the grid; w or h <= 0 means the whole frame.
GridRoi roi_to_grid(double x, double y, double w, double h, int src_w, int src_h, int grid_w,
                    int grid_h);

// Mean of |a - b| over the region.
float mean_abs_diff(const float* a, const float* b, int width, const GridRoi& roi);

// Streams motion energy from a video without keeping frames: energy[i] is the mean absolute
// luma change between frame i and frame i+1, placed at the midpoint of their times.
class MotionReader {
 public:
  MotionReader(const std::string& path, int width, int height, double roi_x, double roi_y,
               double roi_w, double roi_h, int threads = 0);
  // Fills up to `max_values` entries; returns how many. 0 at the end.
  size_t read(double* times, float* energy, float* mean_luma, size_t max_values);
  const VideoDecoder& decoder() const { return decoder_; }
  size_t frames() const { return frames_; }
  GridRoi roi() const { return roi_; }

 private:
  VideoDecoder decoder_;
  GridRoi roi_;
  std::vector<float> prev_, cur_;
  double prev_time_ = 0.0;
  size_t frames_ = 0;
};

}  // namespace avsync
