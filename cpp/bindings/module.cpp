// pybind11 bindings for avsync._core: shape and dtype checks, GIL release, zero-copy arrays.
// Validation, defaults and documentation live in the Python package; this layer stays thin.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "avsync/decode.hpp"
#include "avsync/errors.hpp"
#include "avsync/gcc_phat.hpp"
#include "avsync/motion.hpp"
#include "avsync/parallel.hpp"

namespace py = pybind11;
using avsync::PhatPeak;

namespace {

// Hands a std::vector to numpy without copying: the array owns the vector through a capsule.
template <typename T>
py::array_t<T> to_numpy(std::vector<T>&& v) {
  auto* heap = new std::vector<T>(std::move(v));
  py::capsule owner(heap, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>({heap->size()}, {sizeof(T)}, heap->data(), owner);
}

// float32 passes through untouched; other real floating and integer types are converted; the
// rest (complex, bool, object) are refused. Always 1-D.
py::array_t<float, py::array::c_style> as_signal(const py::array& x, const char* name) {
  if (x.ndim() != 1) {
    throw py::value_error(std::string(name) + " must be 1-D, got " + std::to_string(x.ndim()) + " dimensions");
  }
  const char kind = x.dtype().kind();
  if (kind != 'f' && kind != 'i' && kind != 'u') {
    throw py::type_error(std::string(name) + " must be a real-valued array (float32 preferred), got dtype " +
                         std::string(py::str(x.dtype())));
  }
  return py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(x);
}

// A read of 0 items would look like the end of the stream to every caller: refuse it.
void check_count(size_t n, const char* name) {
  if (n == 0) throw py::value_error(std::string(name) + " must be at least 1");
}

// Lets Ctrl-C stop a long call that runs with the GIL released: takes the GIL for a moment and
// raises KeyboardInterrupt (or whatever the signal handler raised) as a C++ exception.
void check_signals() {
  py::gil_scoped_acquire acquire;
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

void raise_as(const char* cls_name, const char* msg) {
  py::object cls = py::module_::import("avsync.errors").attr(cls_name);
  PyErr_SetString(cls.ptr(), msg);
}

py::dict peak_dict(const PhatPeak& p) {
  py::dict d;
  d["delay"] = p.delay;
  d["lag"] = p.lag;
  d["peak"] = p.peak;
  d["second_peak"] = p.second_peak;
  d["noise_mean"] = p.noise_mean;
  d["noise_std"] = p.noise_std;
  d["lags_searched"] = p.lags_searched;
  d["confidence"] = p.confidence;
  return d;
}

py::dict stream_dict(const avsync::StreamInfo& s) {
  py::dict d;
  d["index"] = s.index;
  d["type"] = s.type;
  d["codec"] = s.codec;
  d["start_s"] = s.start_s;
  d["duration_s"] = s.duration_s >= 0 ? py::object(py::float_(s.duration_s)) : py::object(py::none());
  d["bit_rate"] = s.bit_rate;
  if (s.type == "video") {
    d["width"] = s.width;
    d["height"] = s.height;
    d["fps"] = s.fps;
    d["real_fps"] = s.real_fps;
    d["frames"] = s.frames;
    d["pix_fmt"] = s.pix_fmt;
    d["attached_pic"] = s.attached_pic;
  } else if (s.type == "audio") {
    d["sample_rate"] = s.sample_rate;
    d["channels"] = s.channels;
    d["sample_fmt"] = s.sample_fmt;
  }
  return d;
}

// A native reader as Python sees it: one thread at a time uses it (a reader shared between
// threads is safe, not parallel). Every access waits for the lock with the GIL released, so a
// thread blocked here never stalls the others, and runs with the GIL released.
template <typename T>
struct Guarded {
  std::unique_ptr<T> native;
  mutable std::mutex mu;

  template <typename... Args>
  explicit Guarded(Args&&... args) {
    py::gil_scoped_release release;
    native = std::make_unique<T>(std::forward<Args>(args)...);
  }
  template <typename F>
  auto with(F f) {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mu);
    return f(*native);
  }
  template <typename F>
  auto with(F f) const {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mu);
    return f(static_cast<const T&>(*native));
  }
};

struct PyAudioDecoder : Guarded<avsync::AudioDecoder> {
  PyAudioDecoder(const std::string& path, int sample_rate) : Guarded(path, sample_rate) {}
  py::array_t<float> read(size_t max_samples) {
    check_count(max_samples, "max_samples");
    std::vector<float> buf(max_samples);
    const size_t n = with([&](avsync::AudioDecoder& d) { return d.read(buf.data(), max_samples); });
    buf.resize(n);
    return to_numpy(std::move(buf));
  }
};

struct PyVideoDecoder : Guarded<avsync::VideoDecoder> {
  bool rgb;
  PyVideoDecoder(const std::string& path, int width, int height, bool rgb_, int threads)
      : Guarded(path, width, height, rgb_ ? avsync::VideoDecoder::Output::kRgb : avsync::VideoDecoder::Output::kLuma,
                threads),
        rgb(rgb_) {}
  py::tuple read(size_t max_frames) {
    check_count(max_frames, "max_frames");
    const size_t h = size_t(native->height()), w = size_t(native->width());
    std::vector<double> times(max_frames);
    py::array frames;
    size_t n;
    if (rgb) {
      py::array_t<uint8_t> out({max_frames, h, w, size_t(3)});
      uint8_t* p = out.mutable_data();
      n = with([&](avsync::VideoDecoder& d) { return d.read_rgb(p, times.data(), max_frames); });
      frames = out;
    } else {
      py::array_t<float> out({max_frames, h, w});
      float* p = out.mutable_data();
      n = with([&](avsync::VideoDecoder& d) { return d.read_luma(p, times.data(), max_frames); });
      frames = out;
    }
    times.resize(n);
    // A view of the frames actually filled; the first chunk's spare rows cost nothing later.
    py::object sliced = frames[py::slice(0, py::ssize_t(n), 1)];
    return py::make_tuple(sliced, to_numpy(std::move(times)));
  }
  void seek(double seconds) {
    with([&](avsync::VideoDecoder& d) { d.seek(seconds); });
  }
};

struct PyMotionReader : Guarded<avsync::MotionReader> {
  PyMotionReader(const std::string& path, int width, int height, const std::vector<double>& roi, int threads)
      : Guarded(path, width, height, roi_part(roi, 0), roi_part(roi, 1), roi_part(roi, 2), roi_part(roi, 3),
                threads) {}
  // (x, y, w, h) in source pixels; empty means the whole frame (w = h = 0).
  static double roi_part(const std::vector<double>& roi, size_t i) {
    if (!roi.empty() && roi.size() != 4) throw py::value_error("roi must be (x, y, width, height) in source pixels");
    return roi.empty() ? 0.0 : roi[i];
  }
  py::tuple read(size_t max_values) {
    check_count(max_values, "max_values");
    std::vector<double> times(max_values);
    std::vector<float> energy(max_values), luma(max_values);
    const size_t n = with([&](avsync::MotionReader& r) {
      return r.read(times.data(), energy.data(), luma.data(), max_values);
    });
    times.resize(n);
    energy.resize(n);
    luma.resize(n);
    return py::make_tuple(to_numpy(std::move(times)), to_numpy(std::move(energy)), to_numpy(std::move(luma)));
  }
};

// A snapshot of a video decoder's properties, taken under the reader's lock.
struct VideoProps {
  int source_width, source_height;
  double average_fps, start_s, duration_s;
  bool luma_from_plane;
  size_t decode_errors;
};

VideoProps snapshot(const avsync::VideoDecoder& d) {
  return {d.source_width(), d.source_height(), d.average_fps(), d.start_seconds(),
          d.duration_seconds(), d.luma_source() == avsync::LumaSource::kPlane, d.decode_errors()};
}

py::dict video_props(const VideoProps& v) {
  py::dict p;
  p["source_width"] = v.source_width;
  p["source_height"] = v.source_height;
  p["average_fps"] = v.average_fps;
  p["start_s"] = v.start_s;
  p["duration_s"] = v.duration_s;
  p["luma_from_plane"] = v.luma_from_plane;
  p["decode_errors"] = v.decode_errors;
  return p;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "avsync native core (private): chunked FFmpeg decoding, motion energy, GCC-PHAT";
  m.attr("__version__") = AVSYNC_VERSION;
  // FFmpeg is quiet unless asked: decode problems are counted and reported by avsync itself.
  av_log_set_level(AV_LOG_QUIET);

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const avsync::NoStreamError& e) {
      raise_as("NoStreamError", e.what());
    } catch (const avsync::InvalidDataError& e) {
      raise_as("InvalidDataError", e.what());
    } catch (const avsync::MediaError& e) {
      raise_as("MediaError", e.what());
    }
  });

  m.def("set_ffmpeg_log_level", [](int level) { av_log_set_level(level); }, py::arg("level"),
        "Sets FFmpeg's own log level (av_log_set_level); quiet by default.");
  m.def("ffmpeg_versions", [] {
    py::dict d;
    d["libavformat"] = AV_STRINGIFY(LIBAVFORMAT_VERSION);
    d["libavcodec"] = AV_STRINGIFY(LIBAVCODEC_VERSION);
    d["libavutil"] = AV_STRINGIFY(LIBAVUTIL_VERSION);
    d["libswresample"] = AV_STRINGIFY(LIBSWRESAMPLE_VERSION);
    d["libswscale"] = AV_STRINGIFY(LIBSWSCALE_VERSION);
    d["runtime_libavcodec"] = avcodec_version();
    return d;
  });

  m.def("probe", [](const std::string& path) {
    avsync::MediaInfo info;
    {
      py::gil_scoped_release release;
      info = avsync::probe(path);
    }
    py::dict d;
    d["path"] = info.path;
    d["format"] = info.format;
    d["duration_s"] = info.duration_s >= 0 ? py::object(py::float_(info.duration_s)) : py::object(py::none());
    d["start_s"] = info.start_s;
    d["bit_rate"] = info.bit_rate;
    d["best_audio"] = info.best_audio;
    d["best_video"] = info.best_video;
    py::list streams;
    for (const auto& s : info.streams) streams.append(stream_dict(s));
    d["streams"] = streams;
    return d;
  }, py::arg("path"));

  py::class_<PyAudioDecoder>(m, "AudioDecoder")
      .def(py::init<const std::string&, int>(), py::arg("path"), py::arg("sample_rate"))
      .def("read", &PyAudioDecoder::read, py::arg("max_samples"))
      .def_property_readonly("sample_rate", [](const PyAudioDecoder& d) { return d.with([](const avsync::AudioDecoder& x) { return x.sample_rate(); }); })
      .def_property_readonly("source_sample_rate", [](const PyAudioDecoder& d) { return d.with([](const avsync::AudioDecoder& x) { return x.source_sample_rate(); }); })
      .def_property_readonly("source_channels", [](const PyAudioDecoder& d) { return d.with([](const avsync::AudioDecoder& x) { return x.source_channels(); }); })
      .def_property_readonly("start_s", [](const PyAudioDecoder& d) { return d.with([](const avsync::AudioDecoder& x) { return x.start_seconds(); }); })
      .def_property_readonly("duration_s", [](const PyAudioDecoder& d) { return d.with([](const avsync::AudioDecoder& x) { return x.duration_seconds(); }); })
      .def_property_readonly("decode_errors", [](const PyAudioDecoder& d) { return d.with([](const avsync::AudioDecoder& x) { return x.decode_errors(); }); });

  m.def("read_audio", [](const std::string& path, int sample_rate, size_t chunk) {
    check_count(chunk, "chunk");
    std::vector<float> all;
    double start;
    {
      py::gil_scoped_release release;
      avsync::AudioDecoder dec(path, sample_rate);
      start = dec.start_seconds();
      // Reserve what the container announces (plus a little), so the result is rarely copied.
      const double announced = dec.duration_seconds() * double(sample_rate);
      if (announced > 0 && announced < 4e9) all.reserve(size_t(announced * 1.01) + chunk);
      for (size_t round = 1;; ++round) {
        const size_t old = all.size();
        all.resize(old + chunk);
        const size_t got = dec.read(all.data() + old, chunk);
        all.resize(old + got);
        if (got == 0) break;
        if (round % 64 == 0) check_signals();
      }
      // Give back a large unused tail (an over-estimated duration); a small one is not worth a copy.
      if (all.capacity() - all.size() > all.size() / 8 + chunk) all.shrink_to_fit();
    }
    return py::make_tuple(to_numpy(std::move(all)), start);
  }, py::arg("path"), py::arg("sample_rate"), py::arg("chunk") = size_t(1) << 16);

  py::class_<PyVideoDecoder>(m, "VideoDecoder")
      .def(py::init<const std::string&, int, int, bool, int>(), py::arg("path"), py::arg("width"),
           py::arg("height"), py::arg("rgb") = false, py::arg("threads") = 0)
      .def("read", &PyVideoDecoder::read, py::arg("max_frames"))
      .def("seek", &PyVideoDecoder::seek, py::arg("seconds"))
      .def_property_readonly("width", [](const PyVideoDecoder& d) { return d.native->width(); })  // fixed at construction
      .def_property_readonly("height", [](const PyVideoDecoder& d) { return d.native->height(); })
      .def_property_readonly("info", [](const PyVideoDecoder& d) { return video_props(d.with(snapshot)); });

  py::class_<PyMotionReader>(m, "MotionReader")
      .def(py::init<const std::string&, int, int, const std::vector<double>&, int>(), py::arg("path"),
           py::arg("width"), py::arg("height"), py::arg("roi") = std::vector<double>{}, py::arg("threads") = 0)
      .def("read", &PyMotionReader::read, py::arg("max_values"))
      .def_property_readonly("frames", [](const PyMotionReader& r) { return r.with([](const avsync::MotionReader& x) { return x.frames(); }); })
      .def_property_readonly("roi", [](const PyMotionReader& r) {
        auto g = r.with([](const avsync::MotionReader& x) { return x.roi(); });
        return py::make_tuple(g.x0, g.y0, g.x1, g.y1);
      })
      .def_property_readonly("info", [](const PyMotionReader& r) {
        return video_props(r.with([](const avsync::MotionReader& x) { return snapshot(x.decoder()); }));
      });

  m.def("gcc_phat", [](const py::array& a, const py::array& b, int64_t max_lag, int64_t guard, int threads, int64_t taper) {
    auto fa = as_signal(a, "a");
    auto fb = as_signal(b, "b");
    PhatPeak p;
    {
      py::gil_scoped_release release;
      p = avsync::gcc_phat(fa.data(), size_t(fa.size()), fb.data(), size_t(fb.size()), max_lag, guard, threads, taper);
    }
    return peak_dict(p);
  }, py::arg("a"), py::arg("b"), py::arg("max_lag") = -1, py::arg("guard") = 16, py::arg("threads") = 0, py::arg("taper") = 0);

  m.def("gcc_phat_correlation", [](const py::array& a, const py::array& b, int64_t max_lag, int64_t taper) {
    auto fa = as_signal(a, "a");
    auto fb = as_signal(b, "b");
    std::vector<float> out;
    int64_t first;
    {
      py::gil_scoped_release release;
      first = avsync::gcc_phat_correlation(fa.data(), size_t(fa.size()), fb.data(), size_t(fb.size()), max_lag, out, taper);
    }
    return py::make_tuple(first, to_numpy(std::move(out)));
  }, py::arg("a"), py::arg("b"), py::arg("max_lag") = -1, py::arg("taper") = 0);

  m.def("gcc_phat_windowed", [](const py::array& a, const py::array& b, size_t window, size_t hop,
                                int64_t max_lag, int64_t center_lag, int64_t guard, int threads, int64_t taper) {
    auto fa = as_signal(a, "a");
    auto fb = as_signal(b, "b");
    std::vector<double> centers;
    std::vector<PhatPeak> peaks;
    {
      py::gil_scoped_release release;
      peaks = avsync::gcc_phat_windowed(fa.data(), size_t(fa.size()), fb.data(), size_t(fb.size()), window, hop,
                                        max_lag, center_lag, guard, threads, centers, taper);
    }
    const size_t n = peaks.size();
    std::vector<double> delay(n), peak(n), second(n), conf(n);
    for (size_t i = 0; i < n; ++i) {
      delay[i] = peaks[i].delay;
      peak[i] = peaks[i].peak;
      second[i] = peaks[i].second_peak;
      conf[i] = peaks[i].confidence;
    }
    py::dict d;
    d["centers"] = to_numpy(std::move(centers));
    d["delay"] = to_numpy(std::move(delay));
    d["peak"] = to_numpy(std::move(peak));
    d["second_peak"] = to_numpy(std::move(second));
    d["confidence"] = to_numpy(std::move(conf));
    return d;
  }, py::arg("a"), py::arg("b"), py::arg("window"), py::arg("hop"), py::arg("max_lag"),
     py::arg("center_lag") = 0, py::arg("guard") = 16, py::arg("threads") = 0, py::arg("taper") = 0);

  // Test hook: runs `shares` shares on threads, share `failing` throwing; the exception must come
  // back to Python as a RuntimeError naming the share (not std::terminate).
  m.def("_check_worker_exception", [](size_t shares, size_t failing) {
    py::gil_scoped_release release;
    avsync::run_shares(shares, [&](size_t share) {
      if (share == failing) throw std::runtime_error("share " + std::to_string(share) + " failed");
    });
  }, py::arg("shares"), py::arg("failing"));

  m.def("phat_confidence", &avsync::phat_confidence, py::arg("peak"), py::arg("second_peak"),
        py::arg("noise_mean"), py::arg("noise_std"));
  m.attr("CONFIDENCE_EXCESS_FLOOR") = avsync::kExcessFloor;
  m.attr("CONFIDENCE_EXCESS_SCALE") = avsync::kExcessScale;
}
