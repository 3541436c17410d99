#include "aft/models/batch_norm.h"

#include <ostream>

#include "aft/core/torch_compat.h"

namespace aft::models {

void BatchNorm2dImpl::pretty_print(std::ostream& stream) const {
  stream << std::boolalpha << "torch::nn::BatchNorm2d(" << options.num_features() << ", eps=" << options.eps()
         << ", momentum=" << options.momentum().value_or(0.0) << ", affine=" << options.affine()
         << ", track_running_stats=" << options.track_running_stats() << ")";
}

}  // namespace aft::models

// LibTorch 1.13 (and 2.0) defines BatchNormImplBase's pretty_print in its own library and
// does not export it, yet any class derived from torch::nn::BatchNorm2dImpl needs the symbol:
// the construction vtable of the torch::nn::BatchNorm2dImpl part names that overrider. So there
// it is defined again here, for the one instantiation aft derives from. Later LibTorch defines
// it inline in its header (aft/core/torch_compat.h), and this definition would redefine it.
#if !AFT_TORCH_BATCHNORM_PRETTY_PRINT_INLINE
namespace torch::nn {

template <size_t D, typename Derived>
void BatchNormImplBase<D, Derived>::pretty_print(std::ostream& stream) const {
  stream << std::boolalpha << "torch::nn::BatchNorm" << D << "d(" << this->options.num_features()
         << ", eps=" << this->options.eps() << ", momentum=" << this->options.momentum().value_or(0.0)
         << ", affine=" << this->options.affine() << ", track_running_stats=" << this->options.track_running_stats()
         << ")";
}

template void BatchNormImplBase<2, BatchNorm2dImpl>::pretty_print(std::ostream& stream) const;

}  // namespace torch::nn
#endif
