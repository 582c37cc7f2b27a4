#include "data/prefetch.h"

#include "autograd/error.h"

namespace differnet::data {

Prefetcher::Prefetcher(Producer produce, int depth) : produce_(std::move(produce)), depth_(size_t(depth)) {
  DIFFERNET_CHECK(depth >= 1, "Prefetcher: depth must be at least 1, got ", depth);
  DIFFERNET_CHECK(produce_ != nullptr, "Prefetcher: no producer");
  worker_ = std::thread([this] { run(); });
}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

void Prefetcher::run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return stopping_ || ready_.size() < depth_; });
      if (stopping_) return;
    }
    std::optional<Batch> batch;
    std::exception_ptr error;
    try {
      batch = produce_();
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (batch) ready_.push_back(std::move(*batch));
      else {
        error_ = error;
        finished_ = true;
      }
    }
    changed_.notify_all();
    if (!batch) return;
  }
}

std::optional<Batch> Prefetcher::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return !ready_.empty() || finished_; });
  if (!ready_.empty()) {
    Batch batch = std::move(ready_.front());
    ready_.pop_front();
    lock.unlock();
    changed_.notify_all();
    return batch;
  }
  if (error_) {
    std::exception_ptr error = error_;
    error_ = nullptr;  // thrown once; later calls see the end of the stream
    std::rethrow_exception(error);
  }
  return std::nullopt;
}

}  // namespace differnet::data
