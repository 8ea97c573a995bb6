#!/usr/bin/env bash
# The device side of tools/device_pack.sh: unpacks .carry/pack.tar.xz into .carry/{bin,lib}.
set -euo pipefail
cd "$(dirname "$0")/.."
tar -C .carry -xJf .carry/pack.tar.xz
chmod +x .carry/bin/*
