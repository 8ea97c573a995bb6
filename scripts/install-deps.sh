#!/usr/bin/env bash
# Installs every Debian package vllm-cpp needs to build and test, with apt-get, when missing.
# Idempotent: when everything is present it only asks dpkg and returns in about a second.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  nlohmann-json3-dev        # JSON (config.json, tokenizer.json, HTTP bodies)
  libpcre2-dev              # Unicode regex for pre-tokenizers
  libutf8proc-dev           # Unicode normalisation (NFC/NFKC/...)
  libsentencepiece-dev      # SentencePiece tokenizer.model files
  libgtest-dev libgmock-dev # unit tests
  python3 python3-jinja2    # chat-template parity tests against Python's Jinja2
  python3-jsonschema        # structured-output tests validate outputs against their schemas
  libcli11-dev              # command-line parsing
  libyaml-cpp-dev           # `serve --config FILE.yaml` (vLLM's YAML config file)
  libxxhash-dev             # prefix-cache block hashes (XXH3-128, header-only use)
  libboost-dev              # Boost.Asio/Beast for the HTTP server (headers only)
  libcurl4-openssl-dev      # model downloads from the Hugging Face Hub and ModelScope
  libssl-dev openssl        # HTTPS server and client, sha256 of downloads; tests make certificates with the CLI
  python3-dev pybind11-dev  # the vllm_cpp Python module (python/, docs/python.md)
  python3-skbuild python3-pip  # `pip install --no-build-isolation .` (scikit-build backend)
  libpng-dev libjpeg62-turbo-dev libwebp-dev libgif-dev  # image decoding (multimodal inputs)
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
