// What a classifier's config.json says about its labels and its activation, read the same way by
// every pooling family (encoders and decoders served as classifiers).
#pragma once

#include <cstdint>

#include "loader/model_config.h"
#include "layers/pooler.h"

namespace vllm {

// The number of labels: id2label's size (transformers takes it over num_labels), else
// num_labels, else 2 (transformers' default).
int64_t config_num_labels(const ModelConfig& config);

// A classifier's default pooler over `type` pooling with vLLM's activation: the cross-encoder's
// `sentence_transformers.activation_fn` or `sbert_ce_default_activation_function` when the config
// names one (Sigmoid, Identity), else by `problem_type`: regression none,
// multi_label_classification sigmoid, otherwise sigmoid for one label and softmax for more.
PoolerSpec classifier_pooler(const ModelConfig& config, PoolingType type, int64_t num_labels);

}  // namespace vllm
