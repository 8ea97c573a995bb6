#!/usr/bin/env bash
# Seconds from starting `vllm-cpp serve MODEL` to the first generated token of a completion
# request (the server's start-up: loading, profiling, KV-cache allocation, CUDA graph capture).
#   bench/startup.sh VLLM_CPP_BINARY MODEL_DIR [extra serve flags...]
set -euo pipefail
binary=$1
model=$2
shift 2
port=${PORT:-8123}
start=$(date +%s.%N)
"$binary" serve "$model" --host 127.0.0.1 --port "$port" --served-model-name m "$@" >/tmp/startup_serve.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
ask() {
  python3 - "$port" <<'PY'
import json, sys, urllib.request
request = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/v1/completions",
                                 data=json.dumps({"model": "m", "prompt": "Hello", "max_tokens": 1}).encode(),
                                 headers={"Content-Type": "application/json"})
try:
    json.load(urllib.request.urlopen(request, timeout=5))["choices"][0]
except Exception:
    sys.exit(1)
PY
}
until ask; do
  kill -0 $server 2>/dev/null || { echo "server exited:"; tail -5 /tmp/startup_serve.log; exit 1; }
  sleep 0.05
done
end=$(date +%s.%N)
awk -v a="$start" -v b="$end" 'BEGIN { printf "serve -> first token: %.2f s\n", b - a }'
grep -E "GPU memory|engine ready" /tmp/startup_serve.log || true
