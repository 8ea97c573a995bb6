#!/usr/bin/env bash
# The GPU figures of docs/benchmarks.md (Llama-3.1-8B shapes, bf16, random weights), in one go:
# batch-1 decode latency (CUDA graphs, then eager), offline throughput, prefill of 16 x 2048, and
# serve-to-first-token from a full-size checkpoint written first (tools/make_dummy_checkpoint.py,
# needs PyTorch). Run from the repository root:
#   bench/gpu_figures.sh [VLLM_CPP_BINARY]   (default build/vllm-cpp)
set -uo pipefail
B=${1:-build/vllm-cpp}
M="--model bench/configs/llama-3.1-8b --load-format dummy --skip-tokenizer-init"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader
echo "== batch-1 decode (bench latency --input-len 128 --output-len 256 --batch-size 1)"
$B bench latency $M --input-len 128 --output-len 256 --batch-size 1 --num-iters 5 --num-iters-warmup 2 2>&1 | grep -E "Avg|tokens/s"
echo "== the same with --enforce-eager"
$B bench latency $M --input-len 128 --output-len 256 --batch-size 1 --num-iters 3 --num-iters-warmup 1 --enforce-eager 2>&1 | grep -E "Avg|tokens/s"
echo "== prefill 16 x 2048 (bench latency --input-len 2048 --output-len 1 --batch-size 16 --no-enable-prefix-caching)"
$B bench latency $M --input-len 2048 --output-len 1 --batch-size 16 --num-iters 5 --num-iters-warmup 2 --no-enable-prefix-caching 2>&1 | grep -E "Avg|engine ready"
echo "== throughput (bench throughput --input-len 1000 --output-len 1000 --num-prompts 1000)"
$B bench throughput $M --input-len 1000 --output-len 1000 --num-prompts 1000 2>&1 | grep -E "Throughput|engine ready|GPU memory"
if [ -z "${SKIP_STARTUP:-}" ]; then
  echo "== serve -> first token (bench/startup.sh, weights in the page cache)"
  dir=${CHECKPOINT_DIR:-/tmp/llama-3.1-8b-dummy}
  [ -f "$dir/model.safetensors.index.json" ] ||
    python3 tools/make_dummy_checkpoint.py bench/configs/llama-3.1-8b "$dir" --tokenizer-from models/default
  cat "$dir"/*.safetensors >/dev/null  # into the page cache
  bench/startup.sh "$B" "$dir"
fi
