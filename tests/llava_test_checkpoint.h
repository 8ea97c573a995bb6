// A tiny LLaVA-1.5 checkpoint written by hand (transformers 5.x names): a 2-layer Llama text model,
// a 2-layer CLIP tower over 28x28 images in 14-px patches (4 patches), the projector, a word-level
// tokenizer whose "<image>" is the image token, an OpenAI-format chat template and the CLIP
// preprocessor_config.json. Used by tests/multimodal.
#pragma once

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"
#include "loader/safetensors.h"
#include "random_weights.h"

namespace vllm::testing {

struct TinyLlava {
  int64_t vocab = 40, hidden = 16, inter = 32, layers = 2, heads = 2, kv_heads = 1;
  int64_t vision_hidden = 8, vision_inter = 16, vision_layers = 2, vision_heads = 2, image_size = 28, patch = 14;
  int32_t image_token = 39;
};

inline nlohmann::json tiny_llava_config(const TinyLlava& s = {}) {
  return {{"architectures", {"LlavaForConditionalGeneration"}},
          {"model_type", "llava"},
          {"image_token_id", s.image_token},
          {"vision_feature_layer", -2},
          {"vision_feature_select_strategy", "default"},
          {"projector_hidden_act", "gelu"},
          {"torch_dtype", "float32"},
          {"text_config",
           {{"model_type", "llama"},
            {"vocab_size", s.vocab},
            {"hidden_size", s.hidden},
            {"intermediate_size", s.inter},
            {"num_hidden_layers", s.layers},
            {"num_attention_heads", s.heads},
            {"num_key_value_heads", s.kv_heads},
            {"max_position_embeddings", 128},
            {"rms_norm_eps", 1e-5},
            {"eos_token_id", 2}}},
          {"vision_config",
           {{"model_type", "clip_vision_model"},
            {"hidden_size", s.vision_hidden},
            {"intermediate_size", s.vision_inter},
            {"num_hidden_layers", s.vision_layers},
            {"num_attention_heads", s.vision_heads},
            {"image_size", s.image_size},
            {"patch_size", s.patch}}}};
}

// Words 0..37, then "<image>" as an added special token (the image token).
inline nlohmann::json tiny_llava_tokenizer(const TinyLlava& s = {}) {
  nlohmann::json vocab = nlohmann::json::object();
  const char* words[] = {"<unk>", "<s>", "</s>", "user:", "assistant:", "what", "is", "this", "a", "cat",
                         "dog", "red", "blue", "and", "the", "picture", "hello", "world"};
  int id = 0;
  for (const char* word : words) vocab[word] = id++;
  while (id < s.image_token) vocab["w" + std::to_string(id)] = id, ++id;
  vocab["<image>"] = s.image_token;
  return {{"version", "1.0"},
          {"added_tokens",
           {{{"id", s.image_token}, {"content", "<image>"}, {"single_word", false}, {"lstrip", false},
             {"rstrip", false}, {"normalized", false}, {"special", true}}}},
          {"normalizer", nullptr},
          {"pre_tokenizer", {{"type", "WhitespaceSplit"}}},
          {"post_processor", nullptr},
          {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", false}}},
          {"model", {{"type", "WordLevel"}, {"vocab", vocab}, {"unk_token", "<unk>"}}}};
}

// Writes the folder; `seed` picks the weights.
inline void write_tiny_llava(const std::filesystem::path& dir, uint32_t seed = 1, const TinyLlava& s = {}) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << tiny_llava_config(s).dump(2);
  std::ofstream(dir / "tokenizer.json") << tiny_llava_tokenizer(s).dump(2);
  nlohmann::json tokenizer_config = {
      {"bos_token", "<s>"}, {"eos_token", "</s>"}, {"unk_token", "<unk>"},
      {"chat_template",
       "{% for m in messages %}{{ m['role'] }}: {% for c in m['content'] %}{% if c['type'] == 'image' %}<image> "
       "{% else %}{{ c['text'] }} {% endif %}{% endfor %}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"}};
  std::ofstream(dir / "tokenizer_config.json") << tokenizer_config.dump(2);
  nlohmann::json preprocessor = {{"image_processor_type", "CLIPImageProcessor"},
                                 {"do_resize", true}, {"size", {{"shortest_edge", s.image_size}}},
                                 {"resample", 3}, {"do_center_crop", true},
                                 {"crop_size", {{"height", s.image_size}, {"width", s.image_size}}},
                                 {"do_rescale", true}, {"rescale_factor", 1.0 / 255.0}, {"do_normalize", true},
                                 {"image_mean", {0.48145466, 0.4578275, 0.40821073}},
                                 {"image_std", {0.26862954, 0.26130258, 0.27577711}}};
  std::ofstream(dir / "preprocessor_config.json") << preprocessor.dump(2);

  RandomWeights weights(seed);
  std::vector<std::pair<std::string, Tensor>> t;
  const int64_t h = s.hidden, head_dim = h / s.heads, d = s.vision_hidden;
  const float scale = 1.0f / std::sqrt(static_cast<float>(h));
  t.emplace_back("model.language_model.embed_tokens.weight", weights.normal({s.vocab, h}, 1.0f));
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "model.language_model.layers." + std::to_string(l) + ".";
    t.emplace_back(p + "input_layernorm.weight", weights.around_one(h));
    t.emplace_back(p + "post_attention_layernorm.weight", weights.around_one(h));
    t.emplace_back(p + "self_attn.q_proj.weight", weights.normal({h, h}, scale));
    t.emplace_back(p + "self_attn.k_proj.weight", weights.normal({s.kv_heads * head_dim, h}, scale));
    t.emplace_back(p + "self_attn.v_proj.weight", weights.normal({s.kv_heads * head_dim, h}, scale));
    t.emplace_back(p + "self_attn.o_proj.weight", weights.normal({h, h}, scale));
    t.emplace_back(p + "mlp.gate_proj.weight", weights.normal({s.inter, h}, scale));
    t.emplace_back(p + "mlp.up_proj.weight", weights.normal({s.inter, h}, scale));
    t.emplace_back(p + "mlp.down_proj.weight", weights.normal({h, s.inter}, 1.0f / std::sqrt(static_cast<float>(s.inter))));
  }
  t.emplace_back("model.language_model.norm.weight", weights.around_one(h));
  t.emplace_back("lm_head.weight", weights.normal({s.vocab, h}, scale));
  const std::string v = "model.vision_tower.vision_model.";
  const int64_t patches = (s.image_size / s.patch) * (s.image_size / s.patch);
  t.emplace_back(v + "embeddings.patch_embedding.weight", weights.normal({d, 3, s.patch, s.patch}, 0.05f));
  t.emplace_back(v + "embeddings.class_embedding", weights.normal({d}, 1.0f));
  t.emplace_back(v + "embeddings.position_embedding.weight", weights.normal({patches + 1, d}, 0.5f));
  t.emplace_back(v + "pre_layrnorm.weight", weights.around_one(d));
  t.emplace_back(v + "pre_layrnorm.bias", weights.normal({d}, 0.1f));
  const float vscale = 1.0f / std::sqrt(static_cast<float>(d));
  for (int64_t l = 0; l < s.vision_layers; ++l) {
    const std::string p = v + "encoder.layers." + std::to_string(l) + ".";
    for (const char* norm : {"layer_norm1", "layer_norm2"}) {
      t.emplace_back(p + norm + ".weight", weights.around_one(d));
      t.emplace_back(p + norm + ".bias", weights.normal({d}, 0.1f));
    }
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      t.emplace_back(p + "self_attn." + proj + ".weight", weights.normal({d, d}, vscale));
      t.emplace_back(p + "self_attn." + proj + ".bias", weights.normal({d}, 0.1f));
    }
    t.emplace_back(p + "mlp.fc1.weight", weights.normal({s.vision_inter, d}, vscale));
    t.emplace_back(p + "mlp.fc1.bias", weights.normal({s.vision_inter}, 0.1f));
    t.emplace_back(p + "mlp.fc2.weight", weights.normal({d, s.vision_inter}, 1.0f / std::sqrt(static_cast<float>(s.vision_inter))));
    t.emplace_back(p + "mlp.fc2.bias", weights.normal({d}, 0.1f));
  }
  t.emplace_back(v + "post_layernorm.weight", weights.around_one(d));
  t.emplace_back(v + "post_layernorm.bias", weights.normal({d}, 0.1f));
  t.emplace_back("model.multi_modal_projector.linear_1.weight", weights.normal({h, d}, vscale));
  t.emplace_back("model.multi_modal_projector.linear_1.bias", weights.normal({h}, 0.1f));
  t.emplace_back("model.multi_modal_projector.linear_2.weight", weights.normal({h, h}, scale));
  t.emplace_back("model.multi_modal_projector.linear_2.bias", weights.normal({h}, 0.1f));
  save_safetensors(dir / "model.safetensors", t);
}

}  // namespace vllm::testing
