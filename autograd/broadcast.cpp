#include "autograd/broadcast.h"

#include <algorithm>

namespace differnet::detail {

Shape broadcast_shape(const char* name, const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    DIFFERNET_CHECK(da == db || da == 1 || db == 1, name, ": shapes ", shape_str(a), " and ", shape_str(b),
                    " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

kernels::BroadcastIndex broadcast_index(const char* name, const Shape& out, const Shape& a, const Shape& b) {
  const size_t rank = out.size();
  // Per output dim: size and whether each operand is repeated along it.
  struct Dim {
    int64_t size;
    bool a_rep, b_rep;
  };
  std::vector<Dim> dims;
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (out[i] == 1) continue;
    const Dim d{out[i], da == 1, db == 1};
    if (!dims.empty() && dims.back().a_rep == d.a_rep && dims.back().b_rep == d.b_rep) dims.back().size *= d.size;
    else dims.push_back(d);
  }
  DIFFERNET_CHECK(int(dims.size()) <= kernels::kMaxDims, name, ": broadcasting ", shape_str(a), " with ",
                  shape_str(b), " needs more than ", kernels::kMaxDims, " dimensions");
  kernels::BroadcastIndex bc;
  bc.rank = int(dims.size());
  long long sa = 1, sb = 1;
  for (int d = bc.rank - 1; d >= 0; --d) {
    bc.shape[d] = dims[size_t(d)].size;
    bc.stride_a[d] = dims[size_t(d)].a_rep ? 0 : sa;
    bc.stride_b[d] = dims[size_t(d)].b_rep ? 0 : sb;
    if (!dims[size_t(d)].a_rep) sa *= dims[size_t(d)].size;
    if (!dims[size_t(d)].b_rep) sb *= dims[size_t(d)].size;
  }
  if (bc.rank == 0) {  // every dimension is 1: a single element
    bc.rank = 1;
    bc.shape[0] = 1;
  }
  return bc;
}

DimSplitResult split_at(const char* op, const Shape& shape, int64_t dim) {
  const int64_t rank = int64_t(shape.size());
  DIFFERNET_CHECK(dim >= -rank && dim < rank, op, ": dimension ", dim, " out of range for shape ", shape_str(shape));
  if (dim < 0) dim += rank;
  DimSplitResult r{dim, 1, shape[size_t(dim)], 1};
  for (int64_t i = 0; i < dim; ++i) r.outer *= shape[size_t(i)];
  for (int64_t i = dim + 1; i < rank; ++i) r.inner *= shape[size_t(i)];
  return r;
}

}  // namespace differnet::detail
