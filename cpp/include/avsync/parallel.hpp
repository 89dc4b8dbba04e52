// Splitting work over std::threads without letting an exception take the process down.
#pragma once

#include <cstddef>
#include <exception>
#include <system_error>
#include <thread>
#include <vector>

namespace avsync {

// Runs work(0) .. work(n - 1), each share on its own thread (share 0 on the calling one). An
// exception thrown in any share is captured and rethrown here once all have finished: one that
// escaped a std::thread would call std::terminate and take the Python process down with it.
// A thread that cannot be started (resource limits) has its share run here instead.
template <typename Work>
void run_shares(size_t n, Work&& work) {
  if (n == 0) return;
  std::vector<std::exception_ptr> errors(n);
  auto guarded = [&](size_t share) {
    try {
      work(share);
    } catch (...) {
      errors[share] = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(n - 1);
  size_t started = 1;
  for (; started < n; ++started) {
    try {
      pool.emplace_back(guarded, started);
    } catch (const std::system_error&) {
      break;
    }
  }
  guarded(0);
  for (size_t share = started; share < n; ++share) guarded(share);
  for (auto& t : pool) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace avsync
