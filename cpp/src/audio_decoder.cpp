#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "avsync/decode.hpp"

namespace avsync {

namespace {

// Consecutive decode errors after which a stream is declared undecodable (guards against
// a corrupt file spinning forever).
constexpr size_t kMaxConsecutiveErrors = 1000;

int frame_channels(const AVFrame* f) {
#if AVSYNC_HAVE_CH_LAYOUT
  return f->ch_layout.nb_channels;
#else
  return f->channels;
#endif
}

uint64_t layout_key(const AVFrame* f) {
#if AVSYNC_HAVE_CH_LAYOUT
  uint64_t mask = f->ch_layout.order == AV_CHANNEL_ORDER_NATIVE ? f->ch_layout.u.mask : 0;
  return (mask << 8) ^ uint64_t(f->ch_layout.nb_channels);
#else
  return (f->channel_layout << 8) ^ uint64_t(f->channels);
#endif
}

}  // namespace

AudioDecoder::AudioDecoder(const std::string& path, int sample_rate)
    : path_(path), out_rate_(sample_rate) {
  if (sample_rate < 1000 || sample_rate > 768000) {
    throw std::invalid_argument("sample_rate must be between 1000 and 768000 Hz, got " +
                                std::to_string(sample_rate));
  }
  fmt_ = open_input(path);
  stream_ = find_stream(fmt_.get(), AVMEDIA_TYPE_AUDIO);
  if (stream_ < 0) throw NoStreamError(describe(path, "no audio stream"));
  for (unsigned i = 0; i < fmt_->nb_streams; ++i) {
    if (int(i) != stream_) fmt_->streams[i]->discard = AVDISCARD_ALL;
  }
  AVStream* st = fmt_->streams[stream_];
  dec_ = open_decoder(path, st, 1);
  src_rate_ = st->codecpar->sample_rate;
#if AVSYNC_HAVE_CH_LAYOUT
  src_channels_ = st->codecpar->ch_layout.nb_channels;
#else
  src_channels_ = st->codecpar->channels;
#endif
  start_s_ = stream_start_seconds(fmt_.get(), st);
  if (st->duration != AV_NOPTS_VALUE) {
    duration_s_ = st->duration * av_q2d(st->time_base);
  } else if (fmt_->duration != AV_NOPTS_VALUE) {
    duration_s_ = double(fmt_->duration) / AV_TIME_BASE;
  }
  pkt_ = make_packet();
  frame_ = make_frame();
}

void AudioDecoder::configure_resampler(const AVFrame* f) {
  uint64_t key = layout_key(f);
  if (swr_ && f->sample_rate == swr_in_rate_ && f->format == swr_in_format_ && key == swr_in_layout_key_) {
    return;
  }
  if (swr_) flush_resampler();  // the stream changed format mid-way: drain the old converter
  SwrContext* raw = nullptr;
#if AVSYNC_HAVE_CH_LAYOUT
  AVChannelLayout in_layout{};  // zeroed: av_channel_layout_copy() uninits (frees) its destination first
  if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || av_channel_layout_check(&f->ch_layout) == 0) {
    av_channel_layout_default(&in_layout, frame_channels(f));
  } else {
    av_channel_layout_copy(&in_layout, &f->ch_layout);
  }
  AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
  int rc = swr_alloc_set_opts2(&raw, &mono, AV_SAMPLE_FMT_FLT, out_rate_, &in_layout,
                               AVSampleFormat(f->format), f->sample_rate, 0, nullptr);
  av_channel_layout_uninit(&in_layout);
  if (rc < 0) throw MediaError(describe(path_, "cannot set up the resampler", rc));
#else
  int64_t in_layout = f->channel_layout ? int64_t(f->channel_layout)
                                        : av_get_default_channel_layout(f->channels);
  raw = swr_alloc_set_opts(nullptr, AV_CH_LAYOUT_MONO, AV_SAMPLE_FMT_FLT, out_rate_, in_layout,
                           AVSampleFormat(f->format), f->sample_rate, 0, nullptr);
  if (!raw) throw MediaError(describe(path_, "cannot set up the resampler"));
#endif
  swr_.reset(raw);
  rc = swr_init(swr_.get());
  if (rc < 0) throw MediaError(describe(path_, "cannot set up the resampler", rc));
  swr_in_rate_ = f->sample_rate;
  swr_in_format_ = f->format;
  swr_in_layout_key_ = key;
}

void AudioDecoder::append_resampled(const AVFrame* f) {
  int room = swr_get_out_samples(swr_.get(), f->nb_samples);
  if (room < 0) throw MediaError(describe(path_, "resampler failure", room));
  size_t old = fifo_.size();
  fifo_.resize(old + size_t(room));
  uint8_t* out = reinterpret_cast<uint8_t*>(fifo_.data() + old);
  int got = swr_convert(swr_.get(), &out, room, const_cast<const uint8_t**>(f->extended_data),
                        f->nb_samples);
  if (got < 0) throw MediaError(describe(path_, "resampler failure", got));
  fifo_.resize(old + size_t(got));
}

void AudioDecoder::flush_resampler() {
  if (!swr_) return;
  for (;;) {
    int room = swr_get_out_samples(swr_.get(), 0);
    if (room <= 0) break;
    size_t old = fifo_.size();
    fifo_.resize(old + size_t(room));
    uint8_t* out = reinterpret_cast<uint8_t*>(fifo_.data() + old);
    int got = swr_convert(swr_.get(), &out, room, nullptr, 0);
    fifo_.resize(old + size_t(std::max(got, 0)));
    if (got <= 0) break;
  }
  swr_.reset();
}

bool AudioDecoder::fill() {
  size_t consecutive_errors = 0;
  while (!finished_) {
    int rc = avcodec_receive_frame(dec_.get(), frame_.get());
    if (rc == 0) {
      consecutive_errors = 0;
      if (frame_->nb_samples > 0) {
        configure_resampler(frame_.get());
        append_resampled(frame_.get());
        ++frames_decoded_;
      }
      av_frame_unref(frame_.get());
      return true;
    }
    if (rc == AVERROR_EOF) {
      flush_resampler();
      finished_ = true;
      if (frames_decoded_ == 0) {
        throw InvalidDataError(describe(path_, "no audio could be decoded (corrupt or empty stream)"));
      }
      return true;
    }
    if (rc != AVERROR(EAGAIN)) {
      ++decode_errors_;
      if (++consecutive_errors > kMaxConsecutiveErrors) {
        throw InvalidDataError(describe(path_, "audio stream is undecodable", rc));
      }
      continue;
    }
    // The decoder wants input.
    if (demux_done_) {
      // Draining already requested and still EAGAIN: nothing more will come.
      flush_resampler();
      finished_ = true;
      return true;
    }
    rc = av_read_frame(fmt_.get(), pkt_.get());
    if (rc < 0) {
      // End of file, or a truncated file: decode what was read, like the ffmpeg CLI.
      demux_done_ = true;
      avcodec_send_packet(dec_.get(), nullptr);
      continue;
    }
    if (pkt_->stream_index == stream_) {
      int sent = avcodec_send_packet(dec_.get(), pkt_.get());
      if (sent < 0 && sent != AVERROR(EAGAIN)) {
        ++decode_errors_;
        if (++consecutive_errors > kMaxConsecutiveErrors) {
          av_packet_unref(pkt_.get());
          throw InvalidDataError(describe(path_, "audio stream is undecodable", sent));
        }
      }
    }
    av_packet_unref(pkt_.get());
  }
  return false;
}

size_t AudioDecoder::read(float* out, size_t max_samples) {
  while (fifo_.size() - fifo_pos_ < max_samples && !finished_) fill();
  size_t n = std::min(max_samples, fifo_.size() - fifo_pos_);
  if (n) std::memcpy(out, fifo_.data() + fifo_pos_, n * sizeof(float));
  fifo_pos_ += n;
  // Keep the FIFO small: drop what has been handed out once it dominates the buffer.
  if (fifo_pos_ > 65536 && fifo_pos_ * 2 > fifo_.size()) {
    fifo_.erase(fifo_.begin(), fifo_.begin() + std::ptrdiff_t(fifo_pos_));
    fifo_pos_ = 0;
  }
  return n;
}

}  // namespace avsync
