#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "avsync/decode.hpp"

namespace avsync {

namespace {

// Whether the Y samples can be read straight from plane 0 (planar, semi-planar or packed YUV
// and gray, 8 to 16 bits, little-endian integers).
bool luma_readable(const AVPixFmtDescriptor* d) {
  if (!d || d->nb_components < 1) return false;
  const uint64_t bad = AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_HWACCEL |
                       AV_PIX_FMT_FLAG_BITSTREAM | AV_PIX_FMT_FLAG_BE | AV_PIX_FMT_FLAG_FLOAT;
  if (d->flags & bad) return false;
  const AVComponentDescriptor& c = d->comp[0];
  if (c.plane != 0) return false;
  if (c.depth <= 8) return c.step >= 1 && c.shift == 0;
  return c.depth <= 16 && c.step >= 2 && c.step % 2 == 0 && c.offset % 2 == 0;
}

}  // namespace

VideoDecoder::VideoDecoder(const std::string& path, int width, int height, Output output, int threads)
    : path_(path), output_(output), out_w_(width), out_h_(height) {
  if (width < 1 || height < 1 || width > 8192 || height > 8192) {
    throw std::invalid_argument("width and height must be between 1 and 8192, got " +
                                std::to_string(width) + "x" + std::to_string(height));
  }
  if (threads < 0) throw std::invalid_argument("threads must be >= 0 (0: automatic)");
  fmt_ = open_input(path);
  stream_ = find_stream(fmt_.get(), AVMEDIA_TYPE_VIDEO);
  if (stream_ < 0) throw NoStreamError(describe(path, "no video stream"));
  for (unsigned i = 0; i < fmt_->nb_streams; ++i) {
    if (int(i) != stream_) fmt_->streams[i]->discard = AVDISCARD_ALL;
  }
  AVStream* st = fmt_->streams[stream_];
  dec_ = open_decoder(path, st, threads);
  src_w_ = st->codecpar->width;
  src_h_ = st->codecpar->height;
  if (src_w_ <= 0 || src_h_ <= 0) throw InvalidDataError(describe(path, "video stream has no frame size"));
  AVRational fr = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
  avg_fps_ = fr.num > 0 && fr.den > 0 ? av_q2d(fr) : 0.0;
  time_base_ = av_q2d(st->time_base);
  file_start_s_ = file_start_seconds(fmt_.get());
  start_s_ = stream_start_seconds(fmt_.get(), st);
  if (st->duration != AV_NOPTS_VALUE) {
    duration_s_ = st->duration * time_base_;
  } else if (fmt_->duration != AV_NOPTS_VALUE) {
    duration_s_ = double(fmt_->duration) / AV_TIME_BASE;
  }
  // What the stream announces; confirmed (or corrected) by every decoded frame.
  if (st->codecpar->format >= 0) {
    const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(AVPixelFormat(st->codecpar->format));
    luma_source_ = luma_readable(d) ? LumaSource::kPlane : LumaSource::kSwscale;
  }
  reader_.emplace(fmt_.get(), dec_.get(), stream_, path, "video");
  frame_ = make_frame();
}

double VideoDecoder::frame_time(const AVFrame* f) const {
  int64_t ts = f->best_effort_timestamp;
  if (ts == AV_NOPTS_VALUE) ts = f->pts;
  if (ts == AV_NOPTS_VALUE) {
    double step = avg_fps_ > 0 ? 1.0 / avg_fps_ : 1.0 / 25.0;
    return frames_decoded_ <= 1 ? start_s_ : last_time_ + step;
  }
  return ts * time_base_ - file_start_s_;
}

const AVFrame* VideoDecoder::next_frame() {
  while (!finished_) {
    if (!reader_->next(frame_.get())) {
      finished_ = true;
      if (frames_decoded_ == 0) {
        throw InvalidDataError(describe(path_, "no video frame could be decoded (corrupt or empty stream)"));
      }
      return nullptr;
    }
    ++frames_decoded_;
    const double t = frame_time(frame_.get());
    if (t < skip_before_) continue;
    last_time_ = t;
    return frame_.get();
  }
  return nullptr;
}

void VideoDecoder::seek(double seconds) {
  if (!std::isfinite(seconds)) throw std::invalid_argument("seek time must be a finite number of seconds");
  // Clamped: a time far past either end must not overflow the conversion to a timestamp.
  const double ticks = std::clamp(std::floor((seconds + file_start_s_) / time_base_), -9e18, 9e18);
  const int64_t ts = int64_t(ticks);
  if (av_seek_frame(fmt_.get(), stream_, ts, AVSEEK_FLAG_BACKWARD) >= 0) {
    avcodec_flush_buffers(dec_.get());
    reader_->restart();
    finished_ = false;
  }
  // Frames are dropped until the requested time, whether or not the seek landed early.
  skip_before_ = seconds - 1e-6;
}

void VideoDecoder::luma_from_frame(const AVFrame* f, float* out) {
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(AVPixelFormat(f->format));
  if (f->width != map_w_ || f->height != map_h_ || f->format != last_pix_fmt_) {
    map_w_ = f->width;
    map_h_ = f->height;
    last_pix_fmt_ = f->format;
    sws_.reset();
    cols_ = make_bins(f->width, out_w_);
    rows_ = make_bins(f->height, out_h_);
  }
  if (luma_readable(d)) {
    luma_source_ = LumaSource::kPlane;
    const AVComponentDescriptor& c = d->comp[0];
    if (c.depth <= 8) {
      box_average<uint8_t>(f->data[0] + c.offset, f->linesize[0], c.step, 0, 1.0f, cols_, rows_, out, column_sums_);
    } else {
      const float scale = 1.0f / float(1 << (c.depth - 8));  // back to the 8-bit scale
      box_average<uint16_t>(reinterpret_cast<const uint16_t*>(f->data[0] + c.offset),
                            f->linesize[0] / 2, c.step / 2, c.shift, scale, cols_, rows_, out, column_sums_);
    }
    return;
  }
  // RGB, palette and other layouts: swscale makes a gray picture at the source size (no scaling:
  // its area filter is not an exact box average at every ratio), then the same box average.
  luma_source_ = LumaSource::kSwscale;
  sws_.reset(sws_getCachedContext(sws_.release(), f->width, f->height, AVPixelFormat(f->format),
                                  f->width, f->height, AV_PIX_FMT_GRAY8, SWS_POINT, nullptr, nullptr, nullptr));
  if (!sws_) throw MediaError(describe(path_, "cannot convert this pixel format to gray"));
  const int gray_stride = (f->width + 63) & ~63;
  gray_.resize(size_t(gray_stride) * size_t(f->height + 2) + 64);  // slack: swscale writes whole SIMD blocks
  uint8_t* dst[4] = {gray_.data(), nullptr, nullptr, nullptr};
  int dst_stride[4] = {gray_stride, 0, 0, 0};
  sws_scale(sws_.get(), f->data, f->linesize, 0, f->height, dst, dst_stride);
  box_average<uint8_t>(gray_.data(), gray_stride, 1, 0, 1.0f, cols_, rows_, out, column_sums_);
}

// swscale writes whole SIMD blocks: a row of a narrow picture (10 px of RGB, say) can run past
// its end, and the last row past the buffer. Scale into rows padded to 64 bytes with slack below,
// then copy the pixels out.
void VideoDecoder::scale_padded(const AVFrame* f, int row_bytes, uint8_t* out) {
  const int stride = (row_bytes + 63) / 64 * 64;
  scaled_.resize(size_t(stride) * size_t(out_h_ + 2) + 64);
  uint8_t* dst[4] = {scaled_.data(), nullptr, nullptr, nullptr};
  int dst_stride[4] = {stride, 0, 0, 0};
  sws_scale(sws_.get(), f->data, f->linesize, 0, f->height, dst, dst_stride);
  for (int y = 0; y < out_h_; ++y) {
    std::memcpy(out + size_t(y) * size_t(row_bytes), scaled_.data() + size_t(y) * size_t(stride), size_t(row_bytes));
  }
}

void VideoDecoder::rgb_from_frame(const AVFrame* f, uint8_t* out) {
  const bool shrinking = out_w_ <= f->width && out_h_ <= f->height;
  SwsContext* ctx = sws_getCachedContext(sws_.release(), f->width, f->height, AVPixelFormat(f->format),
                                         out_w_, out_h_, AV_PIX_FMT_RGB24,
                                         shrinking ? SWS_AREA : SWS_BICUBIC, nullptr, nullptr, nullptr);
  sws_.reset(ctx);
  if (!ctx) throw MediaError(describe(path_, "cannot convert this pixel format to RGB"));
  // Honour the source's colour matrix and range (full-range JPEG-style YUV included).
  const int cs = f->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_DEFAULT;
  const int src_range = f->color_range == AVCOL_RANGE_JPEG ? 1 : 0;
  int* inv_table;
  int* table;
  int src_full, dst_full, brightness, contrast, saturation;
  if (sws_getColorspaceDetails(ctx, &inv_table, &src_full, &table, &dst_full, &brightness,
                               &contrast, &saturation) >= 0) {
    sws_setColorspaceDetails(ctx, sws_getCoefficients(cs), src_range || src_full,
                             sws_getCoefficients(SWS_CS_DEFAULT), 1, brightness, contrast, saturation);
  }
  scale_padded(f, out_w_ * 3, out);
}

size_t VideoDecoder::read_luma(float* frames, double* times, size_t max_frames) {
  if (output_ != Output::kLuma) throw std::logic_error("this decoder was opened for RGB output");
  const size_t frame_size = size_t(out_w_) * size_t(out_h_);
  size_t n = 0;
  while (n < max_frames) {
    const AVFrame* f = next_frame();
    if (!f) break;
    luma_from_frame(f, frames + n * frame_size);
    times[n] = last_time_;
    ++n;
  }
  return n;
}

size_t VideoDecoder::read_rgb(uint8_t* frames, double* times, size_t max_frames) {
  if (output_ != Output::kRgb) throw std::logic_error("this decoder was opened for luma output");
  const size_t frame_size = size_t(out_w_) * size_t(out_h_) * 3;
  size_t n = 0;
  while (n < max_frames) {
    const AVFrame* f = next_frame();
    if (!f) break;
    rgb_from_frame(f, frames + n * frame_size);
    times[n] = last_time_;
    ++n;
  }
  return n;
}

}  // namespace avsync
