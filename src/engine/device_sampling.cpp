#include "engine/device_sampling.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <numeric>

#include "core/error.h"
#include "ops/ops.h"

namespace vllm {

namespace {

bool has_penalties(const SamplingParams& p) {
  return p.repetition_penalty != 1.0 || p.frequency_penalty != 0.0 || p.presence_penalty != 0.0;
}

// Host arrays packed into one buffer (each 8-byte aligned), uploaded at once and viewed as
// typed tensors where they landed.
class PackedUpload {
 public:
  template <typename T>
  size_t add(const std::vector<T>& values) {
    const size_t offset = (bytes_.size() + 7) / 8 * 8;
    bytes_.resize(offset + values.size() * sizeof(T));
    if (!values.empty()) std::memcpy(bytes_.data() + offset, values.data(), values.size() * sizeof(T));
    return offset;
  }
  void upload(Device device) { buffer_ = ops::upload_packed(bytes_.data(), bytes_.size(), device); }
  Tensor view(size_t offset, const Shape& shape, DType dtype) const {
    return Tensor::from_blob(static_cast<char*>(buffer_.raw_data()) + offset, shape, dtype, buffer_.device(),
                             buffer_.storage());
  }

 private:
  std::vector<std::byte> bytes_;
  Tensor buffer_;  // u8 on the device
};

// A view of `count` elements of `dtype` at element `offset` of a 32-bit buffer.
Tensor view32(const Tensor& buffer, int64_t offset, const Shape& shape, DType dtype) {
  return Tensor::from_blob(buffer.data<int32_t>() + offset, shape, dtype, buffer.device(), buffer.storage());
}

// Each penalised row's distinct tokens (prompt tokens only when the repetition penalty is on)
// with their counts in the output: vLLM's bin counts, kept sparse. `slot` ([vocab], all -1
// between rows) maps a token to its entry while the row is built.
struct PenaltyLists {
  std::vector<float> repetition, frequency, presence;
  std::vector<int32_t> offsets{0}, token_ids, output_counts;

  void add_row(const DeviceSampleRow& row, std::vector<int32_t>& slot) {
    const SamplingParams& p = *row.params;
    repetition.push_back(static_cast<float>(p.repetition_penalty));
    frequency.push_back(static_cast<float>(p.frequency_penalty));
    presence.push_back(static_cast<float>(p.presence_penalty));
    const size_t first = token_ids.size();
    auto visit = [&](int32_t token, bool in_output) {
      if (token < 0 || static_cast<size_t>(token) >= slot.size()) return;
      int32_t& entry = slot[static_cast<size_t>(token)];
      if (entry < 0) {
        entry = static_cast<int32_t>(token_ids.size());
        token_ids.push_back(token);
        output_counts.push_back(0);
      }
      if (in_output) ++output_counts[static_cast<size_t>(entry)];
    };
    if (has_penalties(p)) {
      if (p.repetition_penalty != 1.0)
        for (int32_t token : row.prompt_token_ids) visit(token, false);
      for (int32_t token : row.output_token_ids) visit(token, true);
    }
    for (size_t e = first; e < token_ids.size(); ++e) slot[static_cast<size_t>(token_ids[e])] = -1;
    offsets.push_back(static_cast<int32_t>(token_ids.size()));
  }
};

}  // namespace

bool samples_on_device(const Request& request) {
  const SamplingParams& p = request.sampling_params;
  if (p.allowed_token_ids || !p.bad_words_token_ids.empty() || !p.logit_bias.empty()) return false;
  if (p.logprobs && (*p.logprobs < 0 || *p.logprobs > ops::kMaxTopLogprobs)) return false;
  return p.min_tokens <= 0 || request.num_output_tokens() >= p.min_tokens;
}

bool draws_without_output_tokens(const Request& request) {
  return samples_on_device(request) && !has_penalties(request.sampling_params) && !request.grammar_matcher;
}

DeviceSampling launch_device_sampling(const Tensor& logits, std::span<const DeviceSampleRow> rows) {
  const int64_t count = static_cast<int64_t>(rows.size()), vocab = logits.size(1);
  const Device device = logits.device();
  DeviceSampling result;
  result.count_ = count;
  if (count == 0) return result;

  // Rows asking for logprobs first, so that compute_logprobs reads a prefix of the samples.
  std::vector<size_t> order(rows.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_partition(order.begin(), order.end(), [&](size_t i) { return rows[i].params->logprobs.has_value(); });
  int64_t with_logprobs = 0, num_top = 0;
  bool any_top_k = false, any_top_p = false, any_min_p = false, any_penalties = false, any_grammar = false;
  std::vector<int32_t> row_ids, top_ks;
  std::vector<float> temperatures, top_ps, min_ps;
  std::vector<int64_t> seeds;
  for (size_t i : order) {
    const DeviceSampleRow& row = rows[i];
    const SamplingParams& p = *row.params;
    VLLM_CHECK(row.logits_row >= 0 && row.logits_row < logits.size(0), Internal, "device sampling: logits row ",
               row.logits_row, " of ", logits.size(0));
    VLLM_CHECK(!p.logprobs || (*p.logprobs >= 0 && *p.logprobs <= ops::kMaxTopLogprobs), Internal,
               "device sampling: logprobs ", p.logprobs.value_or(0), " are computed on the host");
    const ops::RowSampling draw = sampling::draw_settings(p, row.seed);  // as the host Sampler's
    row_ids.push_back(static_cast<int32_t>(row.logits_row));
    temperatures.push_back(draw.temperature);
    seeds.push_back(static_cast<int64_t>(draw.seed));
    top_ks.push_back(draw.top_k);
    top_ps.push_back(draw.top_p);
    min_ps.push_back(draw.min_p);
    any_top_k |= top_ks.back() > 0;
    any_top_p |= top_ps.back() < 1.0f;
    any_min_p |= min_ps.back() > 0.0f;
    any_penalties |= has_penalties(p);
    any_grammar |= row.grammar != nullptr;
    if (p.logprobs) {
      ++with_logprobs;
      num_top = std::max<int64_t>(num_top, *p.logprobs);
    }
  }

  // One upload: every per-row array, and the penalised rows' token lists.
  PackedUpload upload;
  const size_t rows_at = upload.add(row_ids), temperatures_at = upload.add(temperatures), seeds_at = upload.add(seeds);
  const size_t top_k_at = any_top_k ? upload.add(top_ks) : 0, top_p_at = any_top_p ? upload.add(top_ps) : 0;
  const size_t min_p_at = any_min_p ? upload.add(min_ps) : 0;
  PenaltyLists penalties;
  size_t penalty_at[6] = {};
  if (any_penalties) {
    std::vector<int32_t> slot(static_cast<size_t>(vocab), -1);
    for (size_t i : order) penalties.add_row(rows[i], slot);
    penalty_at[0] = upload.add(penalties.repetition);
    penalty_at[1] = upload.add(penalties.frequency);
    penalty_at[2] = upload.add(penalties.presence);
    penalty_at[3] = upload.add(penalties.offsets);
    penalty_at[4] = upload.add(penalties.token_ids);
    penalty_at[5] = upload.add(penalties.output_counts);
  }
  // Structured outputs: the grammar rows' masks, filled here while the device runs the forward.
  const int64_t words = structured::GrammarMatcher::bitmask_words(vocab);
  size_t bitmask_at = 0;
  if (any_grammar) {
    std::vector<int32_t> bitmask(static_cast<size_t>(count * words), -1);
    for (int64_t j = 0; j < count; ++j)
      if (const structured::GrammarMatcher* grammar = rows[order[static_cast<size_t>(j)]].grammar)
        grammar->fill_bitmask_for(vocab, reinterpret_cast<uint32_t*>(bitmask.data() + j * words));
    bitmask_at = upload.add(bitmask);
  }
  upload.upload(device);

  ops::SamplingTensors params;
  params.rows = upload.view(rows_at, {count}, DType::I32);
  params.temperatures = upload.view(temperatures_at, {count}, DType::F32);
  params.seeds = upload.view(seeds_at, {count}, DType::I64);
  if (any_top_k) params.top_k = upload.view(top_k_at, {count}, DType::I32);
  if (any_top_p) params.top_p = upload.view(top_p_at, {count}, DType::F32);
  if (any_min_p) params.min_p = upload.view(min_p_at, {count}, DType::F32);
  Tensor sample_logits = logits;
  if (any_penalties || any_grammar) {  // on copies: the logprobs read the raw rows
    sample_logits = Tensor::empty({count, vocab}, DType::F32, device);
    ops::gather_rows(logits, params.rows, sample_logits);
    params.rows = Tensor();
  }
  if (any_grammar) ops::apply_token_bitmask(sample_logits, upload.view(bitmask_at, {count, words}, DType::I32));
  if (any_penalties) {
    const int64_t entries = static_cast<int64_t>(penalties.token_ids.size());
    ops::PenaltyTensors tensors{upload.view(penalty_at[0], {count}, DType::F32),
                                upload.view(penalty_at[1], {count}, DType::F32),
                                upload.view(penalty_at[2], {count}, DType::F32),
                                upload.view(penalty_at[3], {count + 1}, DType::I32),
                                upload.view(penalty_at[4], {entries}, DType::I32),
                                upload.view(penalty_at[5], {entries}, DType::I32)};
    ops::apply_penalties(sample_logits, tensors);
  }

  // One download: tokens [S], then for the logprob rows ranks [L], ids and logprobs [L, 1 + num_top].
  const int64_t columns = 1 + num_top;
  const int64_t ranks_at = count, ids_at = ranks_at + with_logprobs, logprobs_at = ids_at + with_logprobs * columns;
  Tensor out = Tensor::empty({with_logprobs > 0 ? logprobs_at + with_logprobs * columns : count}, DType::I32, device);
  Tensor tokens = view32(out, 0, {count}, DType::I32);
  ops::sample_tokens(sample_logits, params, tokens);
  if (with_logprobs > 0) {
    Tensor ranks = view32(out, ranks_at, {with_logprobs}, DType::I32);
    Tensor ids = view32(out, ids_at, {with_logprobs, columns}, DType::I32);
    Tensor values = view32(out, logprobs_at, {with_logprobs, columns}, DType::F32);
    ops::compute_logprobs(logits, upload.view(rows_at, {with_logprobs}, DType::I32),
                          view32(out, 0, {with_logprobs}, DType::I32), ids, values, ranks);
  }
  result.with_logprobs_ = with_logprobs;
  result.columns_ = columns;
  result.position_.assign(rows.size(), 0);
  result.num_top_.assign(rows.size(), -1);
  for (int64_t j = 0; j < count; ++j) {
    const size_t i = order[static_cast<size_t>(j)];
    result.position_[i] = static_cast<int32_t>(j);
    if (j < with_logprobs) result.num_top_[i] = std::min<int64_t>(*rows[i].params->logprobs, vocab);
  }
  result.tokens_ = tokens;
  result.read_back_ = ops::HostCopy(out);
  return result;
}

DeviceSamplerOutput DeviceSampling::finish() const {
  DeviceSamplerOutput result;
  result.sampled_token_ids.assign(position_.size(), 0);
  result.logprobs.resize(position_.size());
  if (count_ == 0) return result;
  const int64_t ranks_at = count_, ids_at = ranks_at + with_logprobs_, logprobs_at = ids_at + with_logprobs_ * columns_;
  const auto* data = static_cast<const int32_t*>(read_back_.wait());
  const float* logprob_values = reinterpret_cast<const float*>(data + logprobs_at);
  for (size_t i = 0; i < position_.size(); ++i) {
    const int64_t j = position_[i];
    result.sampled_token_ids[i] = data[j];
    if (num_top_[i] < 0) continue;
    const int64_t k = num_top_[i];
    PositionLogprobs lp;
    lp.token_ids.assign(data + ids_at + j * columns_, data + ids_at + j * columns_ + 1 + k);
    lp.logprobs.assign(logprob_values + j * columns_, logprob_values + j * columns_ + 1 + k);
    lp.rank = data[ranks_at + j];
    result.logprobs[i] = std::move(lp);
  }
  return result;
}

DeviceSamplerOutput sample_on_device(const Tensor& logits, std::span<const DeviceSampleRow> rows) {
  return launch_device_sampling(logits, rows).finish();
}

}  // namespace vllm
