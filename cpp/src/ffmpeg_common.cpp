#include "avsync/ffmpeg_common.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace avsync {

std::string av_error_string(int errnum) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  if (av_strerror(errnum, buf, sizeof(buf)) < 0) {
    return "unknown FFmpeg error " + std::to_string(errnum);
  }
  return buf;
}

std::string describe(const std::string& path, const std::string& what, int errnum) {
  std::string msg = "'" + path + "': " + what;
  if (errnum != 0) msg += " (" + av_error_string(errnum) + ")";
  return msg;
}

FramePtr make_frame() {
  FramePtr f(av_frame_alloc());
  if (!f) throw std::bad_alloc();
  return f;
}

PacketPtr make_packet() {
  PacketPtr p(av_packet_alloc());
  if (!p) throw std::bad_alloc();
  return p;
}

FormatContextPtr open_input(const std::string& path) {
  // FFmpeg's own messages for these cases are vague ("Invalid data found"); say what is wrong.
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    throw MediaError(describe(path, std::string("cannot open: ") + std::strerror(errno)));
  }
  if (S_ISDIR(st.st_mode)) throw MediaError(describe(path, "is a directory, not a media file"));
  if (S_ISREG(st.st_mode) && st.st_size == 0) throw InvalidDataError(describe(path, "file is empty (0 bytes)"));

  AVFormatContext* raw = nullptr;
  int rc = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
  if (rc < 0) {
    if (rc == AVERROR_INVALIDDATA) throw InvalidDataError(describe(path, "not a media file FFmpeg can read", rc));
    throw MediaError(describe(path, "cannot open", rc));
  }
  FormatContextPtr fmt(raw);
  rc = avformat_find_stream_info(fmt.get(), nullptr);
  if (rc < 0) throw InvalidDataError(describe(path, "cannot read stream information", rc));
  return fmt;
}

int find_stream(AVFormatContext* fmt, AVMediaType type) {
  if (type == AVMEDIA_TYPE_VIDEO) {
    // av_find_best_stream would happily return an MP3's cover image.
    int best = -1;
    int64_t best_score = -1;
    for (unsigned i = 0; i < fmt->nb_streams; ++i) {
      AVStream* s = fmt->streams[i];
      if (s->codecpar->codec_type != AVMEDIA_TYPE_VIDEO) continue;
      if (s->disposition & AV_DISPOSITION_ATTACHED_PIC) continue;
      int64_t score = int64_t(s->codecpar->width) * s->codecpar->height;
      if (s->disposition & AV_DISPOSITION_DEFAULT) score += int64_t(1) << 40;
      if (score > best_score) {
        best = int(i);
        best_score = score;
      }
    }
    return best;
  }
  int idx = av_find_best_stream(fmt, type, -1, -1, nullptr, 0);
  return idx < 0 ? -1 : idx;
}

CodecContextPtr open_decoder(const std::string& path, AVStream* stream, int threads) {
  const AVCodec* codec = avcodec_find_decoder(stream->codecpar->codec_id);
  if (!codec) {
    throw MediaError(describe(path, std::string("no decoder for codec '") +
                                        avcodec_get_name(stream->codecpar->codec_id) + "'"));
  }
  CodecContextPtr ctx(avcodec_alloc_context3(codec));
  if (!ctx) throw std::bad_alloc();
  int rc = avcodec_parameters_to_context(ctx.get(), stream->codecpar);
  if (rc < 0) throw MediaError(describe(path, "cannot configure decoder", rc));
  ctx->pkt_timebase = stream->time_base;
  ctx->thread_count = threads;
  ctx->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
  rc = avcodec_open2(ctx.get(), codec, nullptr);
  if (rc < 0) throw MediaError(describe(path, "cannot open decoder", rc));
  return ctx;
}

namespace {
constexpr size_t kMaxConsecutiveErrors = 1000;
}  // namespace

FrameReader::FrameReader(AVFormatContext* fmt, AVCodecContext* dec, int stream, std::string path, std::string kind)
    : fmt_(fmt), dec_(dec), stream_(stream), path_(std::move(path)), kind_(std::move(kind)), pkt_(make_packet()) {}

void FrameReader::count_error(int rc, size_t& consecutive) {
  ++errors_;
  if (++consecutive > kMaxConsecutiveErrors) {
    throw InvalidDataError(describe(path_, kind_ + " stream is undecodable", rc));
  }
}

bool FrameReader::next(AVFrame* frame) {
  size_t consecutive = 0;
  for (;;) {
    av_frame_unref(frame);
    int rc = avcodec_receive_frame(dec_, frame);
    if (rc == 0) return true;
    if (rc == AVERROR_EOF) return false;
    if (rc != AVERROR(EAGAIN)) {
      count_error(rc, consecutive);
      continue;
    }
    // The decoder wants input; when draining was already asked for, nothing more will come.
    if (demux_done_) return false;
    rc = av_read_frame(fmt_, pkt_.get());
    if (rc < 0) {
      // End of file, or a truncated one: drain what was read.
      demux_done_ = true;
      avcodec_send_packet(dec_, nullptr);
      continue;
    }
    if (pkt_->stream_index == stream_) {
      const int sent = avcodec_send_packet(dec_, pkt_.get());
      if (sent < 0 && sent != AVERROR(EAGAIN)) {
        av_packet_unref(pkt_.get());
        count_error(sent, consecutive);
        continue;
      }
    }
    av_packet_unref(pkt_.get());
  }
}

double file_start_seconds(const AVFormatContext* fmt) {
  if (fmt->start_time == AV_NOPTS_VALUE) return 0.0;
  return double(fmt->start_time) / AV_TIME_BASE;
}

double stream_start_seconds(const AVFormatContext* fmt, const AVStream* stream) {
  if (stream->start_time == AV_NOPTS_VALUE) return 0.0;
  return stream->start_time * av_q2d(stream->time_base) - file_start_seconds(fmt);
}

}  // namespace avsync
