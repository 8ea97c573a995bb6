# The two commands for a fresh Debian machine: `make serve` and `make test`.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
# `make serve SERVE_ARGS="path/to/model --port 9000"` serves something else.
SERVE_ARGS ?= --host 127.0.0.1 --port 8000

.PHONY: all deps configure build test serve bench clean sdk-clients

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then \
	  cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE); fi

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

# Optional: the official openai and @anthropic-ai/sdk npm clients for ServeE2E.OfficialSdkClients
# (skipped without them); run once before `make test`. Needs node and npm.
sdk-clients:
	npm install --prefix $(BUILD_DIR)/sdk-clients --no-audit --no-fund openai @anthropic-ai/sdk

bench: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target bench

# Only the executable: the tests are built by `make test`.
serve: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target vllm-cpp
	$(BUILD_DIR)/vllm-cpp serve $(SERVE_ARGS)

clean:
	rm -rf $(BUILD_DIR)
