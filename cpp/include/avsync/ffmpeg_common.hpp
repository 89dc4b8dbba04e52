// RAII ownership for every FFmpeg object the core touches, and error helpers.
#pragma once

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/channel_layout.h>
#include <libavutil/pixdesc.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

#include <memory>
#include <string>

#include "avsync/errors.hpp"

// The AVChannelLayout API arrived in FFmpeg 5.1 (libavutil 57.24) and the old one is gone in 7.0.
#if LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(57, 24, 100)
#define AVSYNC_HAVE_CH_LAYOUT 1
#else
#define AVSYNC_HAVE_CH_LAYOUT 0
#endif

namespace avsync {

struct FormatContextDeleter {
  void operator()(AVFormatContext* p) const { avformat_close_input(&p); }
};
struct CodecContextDeleter {
  void operator()(AVCodecContext* p) const { avcodec_free_context(&p); }
};
struct FrameDeleter {
  void operator()(AVFrame* p) const { av_frame_free(&p); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwrDeleter {
  void operator()(SwrContext* p) const { swr_free(&p); }
};
struct SwsDeleter {
  void operator()(SwsContext* p) const { sws_freeContext(p); }
};

using FormatContextPtr = std::unique_ptr<AVFormatContext, FormatContextDeleter>;
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using SwrPtr = std::unique_ptr<SwrContext, SwrDeleter>;
using SwsPtr = std::unique_ptr<SwsContext, SwsDeleter>;

std::string av_error_string(int errnum);

// "'path': what (reason)" — the one-line form every error message takes.
std::string describe(const std::string& path, const std::string& what, int errnum = 0);

FramePtr make_frame();
PacketPtr make_packet();

// Opens a media file and reads its stream information; throws MediaError/InvalidDataError.
FormatContextPtr open_input(const std::string& path);

// Finds the best stream of a type (audio/video). For video, cover art is not a video stream.
// Returns -1 when there is none.
int find_stream(AVFormatContext* fmt, AVMediaType type);

// Opens a decoder for a stream. threads == 0 lets FFmpeg choose (one per core, plus one).
CodecContextPtr open_decoder(const std::string& path, AVStream* stream, int threads);

// Feeds one stream's packets to its decoder and hands out decoded frames. Isolated decode errors
// are counted and skipped, as the ffmpeg CLI does (a truncated file decodes what it holds); after
// many in a row the stream is declared undecodable, so a corrupt file cannot spin forever.
class FrameReader {
 public:
  FrameReader(AVFormatContext* fmt, AVCodecContext* dec, int stream, std::string path, std::string kind);
  // The next decoded frame, into `frame` (unreferenced first); false at the end of the stream.
  bool next(AVFrame* frame);
  // After a seek and avcodec_flush_buffers: read packets again.
  void restart() { demux_done_ = false; }
  size_t errors() const { return errors_; }

 private:
  void count_error(int rc, size_t& consecutive);

  AVFormatContext* fmt_;
  AVCodecContext* dec_;
  int stream_;
  std::string path_, kind_;
  PacketPtr pkt_;
  size_t errors_ = 0;
  bool demux_done_ = false;
};

// The start time of the file in seconds, as the ffmpeg CLI subtracts it (0 when unknown).
double file_start_seconds(const AVFormatContext* fmt);

// A stream's start time in seconds relative to the file's start (0 when unknown).
double stream_start_seconds(const AVFormatContext* fmt, const AVStream* stream);

}  // namespace avsync
