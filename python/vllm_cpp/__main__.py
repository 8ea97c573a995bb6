"""`python -m vllm_cpp serve MODEL ...` (and every other vllm-cpp subcommand).

Replaces the Python process with the bundled `vllm-cpp` executable (os.execv), so the server runs
exactly as `vllm-cpp serve` does: same flags, signals and exit codes, and no Python in the way.
"""

import os
import shutil
import sys
from typing import Optional


def binary_path() -> Optional[str]:
    """VLLM_CPP_BINARY, else the executable installed in the package (bin/vllm-cpp), else PATH."""
    explicit = os.environ.get("VLLM_CPP_BINARY")
    if explicit:
        return explicit
    bundled = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "vllm-cpp")
    if os.access(bundled, os.X_OK):
        return bundled
    return shutil.which("vllm-cpp")


def main(argv: Optional[list] = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    binary = binary_path()
    if binary is None:
        sys.exit("vllm_cpp: the vllm-cpp executable was not found (not in the package's bin/ nor on PATH); "
                 "build it (ninja vllm-cpp) or set VLLM_CPP_BINARY")
    os.execv(binary, [binary] + list(argv))


if __name__ == "__main__":
    main()
