#include "avsync/decode.hpp"

namespace avsync {

MediaInfo probe(const std::string& path) {
  FormatContextPtr fmt = open_input(path);
  MediaInfo info;
  info.path = path;
  info.format = fmt->iformat && fmt->iformat->name ? fmt->iformat->name : "";
  info.duration_s = fmt->duration != AV_NOPTS_VALUE ? double(fmt->duration) / AV_TIME_BASE : -1.0;
  info.start_s = file_start_seconds(fmt.get());
  info.bit_rate = fmt->bit_rate;
  info.best_audio = find_stream(fmt.get(), AVMEDIA_TYPE_AUDIO);
  info.best_video = find_stream(fmt.get(), AVMEDIA_TYPE_VIDEO);
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    const AVStream* st = fmt->streams[i];
    const AVCodecParameters* par = st->codecpar;
    StreamInfo s;
    s.index = int(i);
    const char* type = av_get_media_type_string(par->codec_type);
    s.type = type ? type : "unknown";
    s.codec = avcodec_get_name(par->codec_id);
    s.start_s = stream_start_seconds(fmt.get(), st);
    s.duration_s = st->duration != AV_NOPTS_VALUE ? st->duration * av_q2d(st->time_base) : -1.0;
    s.bit_rate = par->bit_rate;
    if (par->codec_type == AVMEDIA_TYPE_VIDEO) {
      s.width = par->width;
      s.height = par->height;
      s.fps = st->avg_frame_rate.num > 0 && st->avg_frame_rate.den > 0 ? av_q2d(st->avg_frame_rate) : 0.0;
      s.real_fps = st->r_frame_rate.num > 0 && st->r_frame_rate.den > 0 ? av_q2d(st->r_frame_rate) : 0.0;
      s.frames = st->nb_frames;
      const char* pf = av_get_pix_fmt_name(AVPixelFormat(par->format));
      s.pix_fmt = pf ? pf : "";
      s.attached_pic = (st->disposition & AV_DISPOSITION_ATTACHED_PIC) != 0;
    } else if (par->codec_type == AVMEDIA_TYPE_AUDIO) {
      s.sample_rate = par->sample_rate;
#if AVSYNC_HAVE_CH_LAYOUT
      s.channels = par->ch_layout.nb_channels;
#else
      s.channels = par->channels;
#endif
      const char* sf = av_get_sample_fmt_name(AVSampleFormat(par->format));
      s.sample_fmt = sf ? sf : "";
    }
    info.streams.push_back(s);
  }
  return info;
}

}  // namespace avsync
