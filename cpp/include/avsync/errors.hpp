// Exceptions thrown by the native core. The bindings map each one to the Python class of the
// same role in avsync.errors; every message names the file and the reason.
#pragma once
#include <stdexcept>
#include <string>

namespace avsync {

// A file could not be opened or decoded.
struct MediaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The file holds no stream of the kind asked for (no audio, no video).
struct NoStreamError : MediaError {
  using MediaError::MediaError;
};

// The file was opened but its data is not usable media (corrupt, truncated to nothing, empty).
struct InvalidDataError : MediaError {
  using MediaError::MediaError;
};

}  // namespace avsync
