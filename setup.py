# The vllm_cpp package's build (see pyproject.toml and docs/python.md): scikit-build configures and
# builds this repository with CMake, whose `python` install rules (python/CMakeLists.txt) put
# _vllm_cpp.<abi>.so and bin/vllm-cpp into the package; CMAKE_ARGS adds CMake options.
from skbuild import setup

setup(
    name="vllm_cpp",
    version="0.1.0",
    description="vLLM's Python API (LLM, SamplingParams) over vllm-cpp's native C++ engine",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=["vllm_cpp"],
    package_dir={"": "python"},
    cmake_install_dir="python",
    cmake_args=["-DVLLM_BUILD_TESTS=OFF", "-DVLLM_BUILD_PYTHON=ON"],
    entry_points={"console_scripts": ["vllm-cpp = vllm_cpp.__main__:main"]},
)
