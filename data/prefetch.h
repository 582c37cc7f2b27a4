// Background batch preparation: a worker thread calls the producer and keeps
// up to `depth` finished batches in a bounded queue, so the consumer's
// compute does not wait for the data path. The producer returns std::nullopt
// at the end of the stream. An exception in the producer (an unreadable file,
// named in its message) is handed to the consumer by the next() that would
// have returned that batch; the worker stops there.
//
// On the GPU the producer's kernels go to the same default stream as the
// consumer's work, so they stay in order; the worker only saves the host time
// (parameter drawing, launches, the small parameter upload).
#pragma once
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "data/batch.h"

namespace differnet::data {

class Prefetcher {
 public:
  using Producer = std::function<std::optional<Batch>()>;
  explicit Prefetcher(Producer produce, int depth = 2);
  ~Prefetcher();  // stops the worker (after its current batch) and joins it
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // The next batch in production order; std::nullopt once the producer has
  // finished; rethrows the producer's exception.
  std::optional<Batch> next();

 private:
  void run();

  Producer produce_;
  size_t depth_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Batch> ready_;
  std::exception_ptr error_;
  bool finished_ = false;  // the producer returned nullopt or threw
  bool stopping_ = false;  // the destructor asked the worker to stop
  std::thread worker_;
};

}  // namespace differnet::data
