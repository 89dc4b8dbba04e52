// Chunked decoding with FFmpeg's libraries: mono float audio at a chosen rate, and video frames
// as low-resolution luma (box-averaged from the decoded Y plane) or as RGB.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "avsync/box_average.hpp"
#include "avsync/ffmpeg_common.hpp"

namespace avsync {

// Decodes one audio stream to mono float32 at `sample_rate`, in chunks. Sample values and
// counts follow `ffmpeg -i FILE -ac 1 -ar RATE -f f32le -`.
class AudioDecoder {
 public:
  AudioDecoder(const std::string& path, int sample_rate);
  AudioDecoder(const AudioDecoder&) = delete;
  AudioDecoder& operator=(const AudioDecoder&) = delete;

  // Writes up to `max_samples` samples into `out`; returns how many. 0 means the end.
  size_t read(float* out, size_t max_samples);

  int sample_rate() const { return out_rate_; }
  int source_sample_rate() const { return src_rate_; }
  int source_channels() const { return src_channels_; }
  // The stream's start relative to the file's start, in seconds.
  double start_seconds() const { return start_s_; }
  // Duration announced by the container (seconds), or -1 when unknown.
  double duration_seconds() const { return duration_s_; }
  size_t decode_errors() const { return reader_->errors(); }

 private:
  bool fill();  // decodes more into the FIFO; false at the end
  void configure_resampler(const AVFrame* frame);
  void append_resampled(const AVFrame* frame);
  void flush_resampler();

  std::string path_;
  FormatContextPtr fmt_;
  CodecContextPtr dec_;
  SwrPtr swr_;
  std::optional<FrameReader> reader_;
  FramePtr frame_;
  int stream_ = -1;
  int out_rate_ = 0;
  int src_rate_ = 0;
  int src_channels_ = 0;
  int swr_in_rate_ = 0;
  int swr_in_format_ = -1;
  uint64_t swr_in_layout_key_ = 0;
  double start_s_ = 0.0;
  double duration_s_ = -1.0;
  size_t frames_decoded_ = 0;
  bool decoder_drained_ = false;
  bool finished_ = false;
  std::vector<float> fifo_;
  size_t fifo_pos_ = 0;
};

// Where a video frame's luma comes from.
enum class LumaSource { kPlane, kSwscale };

// Decodes the video stream with frame threading and hands out frames shrunk to width x height:
// either luma (float32, 8-bit scale, box average of the decoded Y plane: no colour conversion)
// or RGB24 (through swscale, area filter). Timestamps are presentation times in seconds from
// the file's start, so variable frame rate stays true.
class VideoDecoder {
 public:
  enum class Output { kLuma, kRgb };
  VideoDecoder(const std::string& path, int width, int height, Output output, int threads = 0);
  VideoDecoder(const VideoDecoder&) = delete;
  VideoDecoder& operator=(const VideoDecoder&) = delete;

  // Luma mode: writes up to `max_frames` frames of height*width floats into `frames` and their
  // times into `times`. RGB mode: same with height*width*3 bytes per frame. Returns the count.
  size_t read_luma(float* frames, double* times, size_t max_frames);
  size_t read_rgb(uint8_t* frames, double* times, size_t max_frames);

  // Skips frames whose time is before `seconds` (a cheap forward seek to the keyframe first).
  void seek(double seconds);

  int width() const { return out_w_; }
  int height() const { return out_h_; }
  int source_width() const { return src_w_; }
  int source_height() const { return src_h_; }
  double average_fps() const { return avg_fps_; }
  double start_seconds() const { return start_s_; }
  double duration_seconds() const { return duration_s_; }
  LumaSource luma_source() const { return luma_source_; }
  size_t decode_errors() const { return reader_->errors(); }

 private:
  const AVFrame* next_frame();  // nullptr at the end
  void luma_from_frame(const AVFrame* f, float* out);
  void rgb_from_frame(const AVFrame* f, uint8_t* out);
  void scale_padded(const AVFrame* f, int row_bytes, uint8_t* out);
  double frame_time(const AVFrame* f) const;

  std::string path_;
  Output output_;
  FormatContextPtr fmt_;
  CodecContextPtr dec_;
  std::optional<FrameReader> reader_;
  FramePtr frame_;
  SwsPtr sws_;
  int stream_ = -1;
  int out_w_, out_h_;
  int src_w_ = 0, src_h_ = 0;
  double avg_fps_ = 0.0;
  double start_s_ = 0.0;
  double duration_s_ = -1.0;
  double file_start_s_ = 0.0;
  double time_base_ = 0.0;
  double skip_before_ = -1e300;
  LumaSource luma_source_ = LumaSource::kPlane;
  size_t frames_decoded_ = 0;
  bool finished_ = false;
  // Box-average bookkeeping, rebuilt when the decoded size changes.
  int map_w_ = 0, map_h_ = 0;
  BinRanges cols_, rows_;
  std::vector<uint32_t> column_sums_;
  std::vector<uint8_t> gray_;  // swscale fallback buffer
  std::vector<uint8_t> scaled_;  // swscale output with padded rows (it may write past a row's end)
  int last_pix_fmt_ = -1;
  double last_time_ = -1e300;
};

// What `avsync info` and the sync code need to know about a file.
struct StreamInfo {
  int index = 0;
  std::string type;  // "audio", "video", "subtitle", "data", "attachment"
  std::string codec;
  double start_s = 0.0;
  double duration_s = -1.0;
  int64_t bit_rate = 0;
  // video
  int width = 0, height = 0;
  double fps = 0.0;        // average frame rate
  double real_fps = 0.0;   // r_frame_rate
  int64_t frames = 0;      // as declared by the container, 0 when unknown
  std::string pix_fmt;
  bool attached_pic = false;
  // audio
  int sample_rate = 0;
  int channels = 0;
  std::string sample_fmt;
};

struct MediaInfo {
  std::string path;
  std::string format;
  double duration_s = -1.0;
  double start_s = 0.0;
  int64_t bit_rate = 0;
  int best_audio = -1;
  int best_video = -1;
  std::vector<StreamInfo> streams;
};

MediaInfo probe(const std::string& path);

}  // namespace avsync
