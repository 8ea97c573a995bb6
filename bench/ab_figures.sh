#!/usr/bin/env bash
# Same-machine A/B of the GPU figures of docs/benchmarks.md: each figure is run with the baseline
# binary, then the candidate, in one device call, so the two numbers share a card and its state.
#   bench/ab_figures.sh BASE_BINARY NEW_BINARY [latency|throughput|all]
# latency: batch-1 decode (CUDA graphs) and prefill 16 x 2048; throughput: 1000/1000 offline.
set -uo pipefail
A=$1
B=$2
what=${3:-all}
M="--model bench/configs/llama-3.1-8b --load-format dummy --skip-tokenizer-init"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader
run() {  # label binary args...
  local label=$1 bin=$2
  shift 2
  echo "-- $label: $*"
  "$bin" "$@" 2>&1 | grep -E "Avg latency|tokens/s|Throughput"
}
if [ "$what" != throughput ]; then
  echo "== batch-1 decode (--input-len 128 --output-len 256 --batch-size 1)"
  for side in base new base new; do
    bin=$A; [ $side = new ] && bin=$B
    run $side "$bin" bench latency $M --input-len 128 --output-len 256 --batch-size 1 --num-iters 5 --num-iters-warmup 2
  done
  echo "== prefill 16 x 2048"
  for side in base new base new; do
    bin=$A; [ $side = new ] && bin=$B
    run $side "$bin" bench latency $M --input-len 2048 --output-len 1 --batch-size 16 --num-iters 5 \
      --num-iters-warmup 2 --no-enable-prefix-caching
  done
fi
if [ "$what" != latency ]; then
  echo "== throughput (--input-len 1000 --output-len 1000 --num-prompts ${NUM_PROMPTS:-1000})"
  for side in ${SIDES:-base new}; do
    bin=$A; [ $side = new ] && bin=$B
    run $side "$bin" bench throughput $M --input-len 1000 --output-len 1000 --num-prompts "${NUM_PROMPTS:-1000}"
  done
fi
