#include "layers/pooler.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/error.h"
#include "core/logging.h"

namespace vllm {

PoolingType parse_pooling_type(const std::string& name) {
  std::string upper = name;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  if (upper == "LAST") return PoolingType::Last;
  if (upper == "CLS" || upper == "FIRST") return PoolingType::First;
  if (upper == "MEAN") return PoolingType::Mean;
  if (upper == "ALL") return PoolingType::All;
  if (upper == "STEP") return PoolingType::Step;
  fail(ErrorKind::InvalidArgument, "pooling type '", name, "' is not supported (known: LAST, CLS, MEAN, ALL, STEP)");
}

const char* pooling_type_name(PoolingType type) {
  switch (type) {
    case PoolingType::Last: return "LAST";
    case PoolingType::First: return "CLS";
    case PoolingType::Mean: return "MEAN";
    case PoolingType::All: return "ALL";
    case PoolingType::Step: return "STEP";
  }
  return "?";
}

PoolerConfig PoolerConfig::parse(const std::string& text) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& error) {
    fail(ErrorKind::InvalidArgument, "--pooler-config: not valid JSON (", error.what(), "): ", text);
  }
  return from_json(json);
}

PoolerConfig PoolerConfig::from_json(const nlohmann::json& json) {
  VLLM_CHECK(json.is_object(), InvalidArgument, "--pooler-config must be a JSON object, not ", json.dump());
  PoolerConfig config;
  auto boolean = [](const std::string& key, const nlohmann::json& value) {
    VLLM_CHECK(value.is_boolean(), InvalidArgument, "--pooler-config: ", key, " must be true or false, not ",
               value.dump());
    return value.get<bool>();
  };
  auto integer = [](const std::string& key, const nlohmann::json& value) {
    VLLM_CHECK(value.is_number_integer(), InvalidArgument, "--pooler-config: ", key, " must be an integer, not ",
               value.dump());
    return value.get<int64_t>();
  };
  for (const auto& [key, value] : json.items()) {
    if (value.is_null()) continue;
    if (key == "pooling_type") {
      VLLM_CHECK(value.is_string(), InvalidArgument, "--pooler-config: pooling_type must be a string");
      config.pooling_type = parse_pooling_type(value.get<std::string>());
    } else if (key == "normalize") {
      config.normalize = boolean(key, value);
    } else if (key == "activation" || key == "softmax" || key == "use_activation") {
      config.activation = boolean(key, value);
    } else if (key == "dimensions") {
      config.dimensions = integer(key, value);
      VLLM_CHECK(*config.dimensions > 0, InvalidArgument, "--pooler-config: dimensions must be positive");
    } else if (key == "step_tag_id") {
      config.step_tag_id = static_cast<int32_t>(integer(key, value));
    } else if (key == "returned_token_ids") {
      VLLM_CHECK(value.is_array(), InvalidArgument, "--pooler-config: returned_token_ids must be a list of ints");
      std::vector<int32_t> ids;
      for (const auto& id : value) ids.push_back(static_cast<int32_t>(integer(key, id)));
      config.returned_token_ids = ids;
    } else if (key == "enable_chunked_processing" || key == "max_embed_len") {
      log_warning("--pooler-config: ", key, " is ignored (prompts longer than max_model_len are refused)");
    } else {
      fail(ErrorKind::InvalidArgument, "--pooler-config: unknown key '", key,
           "' (known: pooling_type, normalize, dimensions, activation, softmax, step_tag_id, returned_token_ids, "
           "enable_chunked_processing)");
    }
  }
  return config;
}

PoolerSpec PoolerConfig::apply(PoolerSpec base) const {
  if (pooling_type) base.type = *pooling_type;
  if (normalize) base.normalize = *normalize;
  if (activation) {
    if (!*activation) {
      base.softmax = base.sigmoid = false;
    } else if (!base.softmax && !base.sigmoid) {
      base.softmax = true;
    }
  }
  if (step_tag_id) base.step_tag_id = *step_tag_id;
  if (returned_token_ids) base.returned_token_ids = *returned_token_ids;
  return base;
}

std::vector<Tensor> pool_rows(const PoolerSpec& spec, const Tensor& hidden, const std::vector<int64_t>& query_start,
                              const int32_t* token_ids) {
  VLLM_CHECK(hidden.dim() == 2 && hidden.dtype() == DType::F32, InvalidArgument, "pooler: hidden must be [T, H] f32");
  VLLM_CHECK(!query_start.empty() && query_start.front() == 0 && query_start.back() == hidden.size(0),
             InvalidArgument, "pooler: query_start must run from 0 to the ", hidden.size(0), " hidden rows");
  const Tensor host = hidden.to(Device::cpu()).contiguous();
  const int64_t width = host.size(1), num_seqs = static_cast<int64_t>(query_start.size()) - 1;
  const float* in = host.data<float>();
  std::vector<Tensor> out;
  for (int64_t b = 0; b < num_seqs; ++b) {
    const int64_t begin = query_start[b], end = query_start[b + 1];
    VLLM_CHECK(begin < end, InvalidArgument, "pooler: sequence ", b, " has no tokens");
    switch (spec.type) {
      case PoolingType::All: {
        Tensor rows = Tensor::empty({end - begin, width}, DType::F32);
        std::copy(in + begin * width, in + end * width, rows.data<float>());
        out.push_back(rows);
        break;
      }
      case PoolingType::Step: {
        VLLM_CHECK(token_ids != nullptr, Internal, "STEP pooling needs the prompts' token ids");
        std::vector<int64_t> picked;
        for (int64_t t = begin; t < end; ++t)
          if (!spec.step_tag_id || token_ids[t] == *spec.step_tag_id) picked.push_back(t);
        Tensor rows = Tensor::empty({static_cast<int64_t>(picked.size()), width}, DType::F32);
        for (size_t i = 0; i < picked.size(); ++i)
          std::copy(in + picked[i] * width, in + (picked[i] + 1) * width, rows.data<float>() + i * width);
        out.push_back(rows);
        break;
      }
      case PoolingType::Mean: {
        Tensor row = Tensor::zeros({width}, DType::F32);
        float* sum = row.data<float>();
        for (int64_t h = 0; h < width; ++h) {
          double total = 0.0;
          for (int64_t t = begin; t < end; ++t) total += in[t * width + h];
          sum[h] = static_cast<float>(total / static_cast<double>(end - begin));
        }
        out.push_back(row);
        break;
      }
      case PoolingType::Last:
      case PoolingType::First: {
        const int64_t t = spec.type == PoolingType::Last ? end - 1 : begin;
        Tensor row = Tensor::empty({width}, DType::F32);
        std::copy(in + t * width, in + (t + 1) * width, row.data<float>());
        out.push_back(row);
        break;
      }
    }
  }
  return out;
}

namespace {
template <typename F>
void for_each_row(Tensor& rows, F&& f) {
  VLLM_CHECK(rows.device().is_cpu() && rows.dtype() == DType::F32 && rows.is_contiguous() &&
                 (rows.dim() == 1 || rows.dim() == 2),
             Internal, "pooler post-processing takes host f32 [D] or [N, D]");
  const int64_t width = rows.size(rows.dim() - 1), count = rows.dim() == 1 ? 1 : rows.size(0);
  for (int64_t r = 0; r < count; ++r) f(rows.data<float>() + r * width, width);
}
}  // namespace

void normalize_rows(Tensor& rows) {
  for_each_row(rows, [](float* row, int64_t width) {
    double norm = 0.0;
    for (int64_t h = 0; h < width; ++h) norm += static_cast<double>(row[h]) * row[h];
    const double inv = 1.0 / std::max(std::sqrt(norm), 1e-12);
    for (int64_t h = 0; h < width; ++h) row[h] = static_cast<float>(row[h] * inv);
  });
}

void softmax_rows(Tensor& rows) {
  for_each_row(rows, [](float* row, int64_t width) {
    if (width == 0) return;
    const float top = *std::max_element(row, row + width);
    double sum = 0.0;
    for (int64_t h = 0; h < width; ++h) sum += std::exp(static_cast<double>(row[h] - top));
    for (int64_t h = 0; h < width; ++h) row[h] = static_cast<float>(std::exp(static_cast<double>(row[h] - top)) / sum);
  });
}

void sigmoid_values(Tensor& rows) {
  for_each_row(rows, [](float* row, int64_t width) {
    for (int64_t h = 0; h < width; ++h) row[h] = static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(row[h]))));
  });
}

Tensor select_columns(const Tensor& rows, const std::vector<int32_t>& columns) {
  const Tensor host = rows.dim() == 1 ? rows.view({1, rows.size(0)}) : rows;
  const int64_t width = host.size(1), count = host.size(0), kept = static_cast<int64_t>(columns.size());
  for (int32_t c : columns)
    VLLM_CHECK(c >= 0 && c < width, InvalidArgument, "returned_token_ids: ", c, " is outside the ", width,
               " outputs of the model");
  Tensor out = Tensor::empty({count, kept}, DType::F32);
  const Tensor in = host.contiguous();
  for (int64_t r = 0; r < count; ++r)
    for (int64_t c = 0; c < kept; ++c) out.data<float>()[r * kept + c] = in.data<float>()[r * width + columns[c]];
  return rows.dim() == 1 ? out.view({kept}) : out;
}

Tensor truncate_rows(const Tensor& rows, int64_t dimensions) {
  const int64_t width = rows.size(rows.dim() - 1);
  if (dimensions <= 0 || dimensions >= width) return rows;
  return rows.slice(rows.dim() - 1, 0, dimensions).contiguous();
}

DenseProjection::Activation DenseProjection::parse_activation(const std::string& qualified_name) {
  const std::string name = qualified_name.substr(qualified_name.rfind('.') + 1);
  if (name == "Identity") return Activation::Identity;
  if (name == "Tanh") return Activation::Tanh;
  if (name == "Sigmoid") return Activation::Sigmoid;
  if (name == "ReLU") return Activation::Relu;
  fail(ErrorKind::Unsupported, "Dense module activation '", qualified_name,
       "' is not supported (known: Identity, Tanh, Sigmoid, ReLU)");
}

Tensor DenseProjection::forward(const Tensor& rows) const {
  const Tensor in = (rows.dim() == 1 ? rows.view({1, rows.size(0)}) : rows).contiguous();
  const int64_t count = in.size(0), width = in.size(1), outs = weight.size(0);
  VLLM_CHECK(weight.size(1) == width, InvalidArgument, "Dense module: in_features ", weight.size(1),
             " does not match the pooled width ", width);
  Tensor out = Tensor::empty({count, outs}, DType::F32);
  const float* x = in.data<float>();
  const float* w = weight.data<float>();
  float* y = out.data<float>();
  for (int64_t r = 0; r < count; ++r) {
    for (int64_t o = 0; o < outs; ++o) {
      double sum = bias.defined() ? bias.data<float>()[o] : 0.0;
      for (int64_t i = 0; i < width; ++i) sum += static_cast<double>(x[r * width + i]) * w[o * width + i];
      switch (activation) {
        case Activation::Identity: break;
        case Activation::Tanh: sum = std::tanh(sum); break;
        case Activation::Sigmoid: sum = 1.0 / (1.0 + std::exp(-sum)); break;
        case Activation::Relu: sum = std::max(sum, 0.0); break;
      }
      y[r * outs + o] = static_cast<float>(sum);
    }
  }
  return rows.dim() == 1 ? out.view({outs}) : out;
}

Tensor Pooler::pool(const Tensor& hidden, const std::vector<int64_t>& query_start) const {
  VLLM_CHECK(spec_.type != PoolingType::Step, InvalidArgument, "pooler: STEP pooling needs token ids (pool_rows)");
  std::vector<Tensor> pooled = pool_rows(spec_, hidden, query_start);
  const int64_t width = hidden.size(1);
  const int64_t rows = spec_.type == PoolingType::All ? hidden.size(0) : static_cast<int64_t>(pooled.size());
  Tensor out = Tensor::empty({rows, width}, DType::F32);
  int64_t offset = 0;
  for (const Tensor& t : pooled) {
    std::copy(t.data<float>(), t.data<float>() + t.numel(), out.data<float>() + offset);
    offset += t.numel();
  }
  if (spec_.normalize) normalize_rows(out);
  if (spec_.softmax) softmax_rows(out);
  if (spec_.sigmoid) sigmoid_values(out);
  return out;
}

}  // namespace vllm
