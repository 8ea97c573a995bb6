"""Paths and the skip rule shared by the vllm_cpp tests (run by ctest, see tests/CMakeLists.txt)."""
import os
import shutil
import unittest

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_MODEL = os.path.join(SOURCE_DIR, "models", "default")
POOLING_FIXTURES = os.path.join(SOURCE_DIR, "tests", "data", "pooling")

try:
    import vllm_cpp
except ImportError as error:  # the module was not built (no pybind11): every test skips
    vllm_cpp = None
    IMPORT_ERROR = str(error)
else:
    IMPORT_ERROR = ""

needs_module = unittest.skipIf(vllm_cpp is None, f"the vllm_cpp module is not built ({IMPORT_ERROR})")


def cli_binary():
    """The vllm-cpp executable ctest names (VLLM_CPP_BINARY), else PATH; None when absent."""
    binary = os.environ.get("VLLM_CPP_BINARY") or shutil.which("vllm-cpp")
    return binary if binary and os.access(binary, os.X_OK) else None
