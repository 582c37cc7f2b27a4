#include "layers/state_dict.h"

#include "weights/tensor_convert.h"

#include <map>
#include <set>
#include <sstream>

namespace differnet {
namespace {

const std::string kFeaturesPrefix = "features.";

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

std::string join(const std::vector<std::string>& names) {
  std::ostringstream os;
  for (size_t i = 0; i < names.size(); ++i) os << (i ? ", " : "") << "'" << names[i] << "'";
  return os.str();
}

}  // namespace

void load_state_dict(Module& module, const weights::RawTensorMap& tensors, const std::string& source_name) {
  std::map<std::string, Tensor> params;
  for (auto& [name, p] : module.named_parameters()) params.emplace(name, p);

  std::set<std::string> loaded;
  std::vector<std::string> unexpected, misshaped, duplicated;
  std::vector<std::pair<Tensor, const weights::RawTensor*>> copies;
  for (const auto& [key, raw] : tensors) {
    // The key itself, else with "features." added or removed.
    auto it = params.find(key);
    if (it == params.end())
      it = params.find(starts_with(key, kFeaturesPrefix) ? key.substr(kFeaturesPrefix.size()) : kFeaturesPrefix + key);
    if (it == params.end()) {
      unexpected.push_back(key);
      continue;
    }
    if (!loaded.insert(it->first).second) {
      duplicated.push_back(key);
      continue;
    }
    if (raw.shape != it->second.shape()) {
      misshaped.push_back(detail::concat(key, " is ", weights::shape_string(raw.shape), " in the file but ",
                                         shape_str(it->second.shape()), " in the model"));
      continue;
    }
    copies.emplace_back(it->second, &raw);
  }
  std::vector<std::string> missing;
  for (const auto& [name, p] : params)
    if (!loaded.count(name)) missing.push_back(name);

  if (!missing.empty() || !unexpected.empty() || !misshaped.empty() || !duplicated.empty()) {
    std::ostringstream os;
    os << "cannot load '" << source_name << "' into the model:";
    if (!missing.empty()) os << " missing " << join(missing) << ";";
    if (!unexpected.empty()) os << " unexpected " << join(unexpected) << ";";
    if (!misshaped.empty()) os << " wrong shape: " << join(misshaped) << ";";
    if (!duplicated.empty()) os << " given twice (with and without 'features.'): " << join(duplicated) << ";";
    throw Error(os.str());
  }
  // Nothing is written unless everything matches.
  for (auto& [param, raw] : copies) weights::copy_into(*raw, param, "'" + source_name + "': tensor " + param.name());
}

}  // namespace differnet
