// NCCL's asynchronous error handling, which decides what a failed or timed-out collective does
// (aft/core/torch_compat.h has the variable's name per LibTorch version). aft wants mode 2:
// the communicator is aborted and the collective throws, so the rank reports one error line
// naming the operation; mode 1 would tear the process down from a watchdog thread first.
#pragma once
#include <string>

namespace aft::dist {

struct NcclErrorHandling {
  std::string variable;  // the name LibTorch reads (current name first)
  std::string value;     // the mode in force
  bool set_by_aft;       // false: the user had set it (under either name) and aft kept it
};

// Sets the variable to 2 unless the user set it, under its current or its old name; returns
// what is in force. Called before ProcessGroupNCCL is made (it reads the variable then).
NcclErrorHandling default_nccl_error_handling();

}  // namespace aft::dist
