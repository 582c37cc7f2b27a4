// Grad mode: whether ops record the tape. NoGradGuard turns recording off for
// a scope (inference, optimizer steps, backward functions), like torch.no_grad().
#pragma once

namespace differnet {

bool grad_enabled();

class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace differnet
