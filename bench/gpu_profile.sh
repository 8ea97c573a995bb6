#!/usr/bin/env bash
# Kernel-by-kernel profiles behind docs/benchmarks.md's "Where the time goes" (Nsight Compute,
# kernel durations only, GPU clocks left alone), summarised per step by tools/ncu_steps.py:
#   bench/gpu_profile.sh BINARY decode   # batch-1 decode, graph nodes one by one
#   bench/gpu_profile.sh BINARY mixed    # a throughput step with prompt tokens (16,384 tokens)
#   bench/gpu_profile.sh BINARY batch    # a decode-only throughput step (700 sequences)
# Writes ncu_<what>.csv in the current directory. Needs ncu on PATH and a GPU. The ncu commands are
# the ones that made the documented profiles (session 3); this wrapper was written after the last
# device run of that session, so its first GPU run is still to come.
set -euo pipefail
B=$1
what=${2:-decode}
M="--model bench/configs/llama-3.1-8b --load-format dummy --skip-tokenizer-init"
NCU="ncu --clock-control none --cache-control none --graph-profiling node --metrics gpu__time_duration.sum --csv"
case $what in
  decode) $NCU $B bench latency $M --input-len 128 --output-len 4 --batch-size 1 --num-iters 1 \
            --num-iters-warmup 0 --cuda-graph-sizes 1 >ncu_decode.csv ;;
  # The windows skip start-up (profiling step, graph warm-ups) and land in the run's first
  # minutes (prompt steps) or later (decode-only steps at ~700 sequences).
  mixed) $NCU --launch-skip 30000 --launch-count 1000 $B bench throughput $M --input-len 1000 \
           --output-len 100 --num-prompts 700 >ncu_mixed.csv ;;
  batch) $NCU --launch-skip 45000 --launch-count 1400 $B bench throughput $M --input-len 1000 \
           --output-len 100 --num-prompts 700 >ncu_batch.csv ;;
  *) echo "usage: $0 BINARY decode|mixed|batch" >&2; exit 2 ;;
esac
python3 "$(dirname "$0")/../tools/ncu_steps.py" "ncu_$what.csv" --step $([ "$what" = decode ] && echo 3 || echo 0)
