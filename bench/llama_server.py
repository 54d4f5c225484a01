"""llama.cpp's OpenAI-compatible server (llama-cpp-python), installed on
first use into a virtualenv of its own under the data folder."""
from pathlib import Path

import bench

REQUIREMENTS = Path(__file__).resolve().parent / "llama-requirements.txt"
# Portable x86-64 code paths: a native build on this machine's AMX/AVX-512
# CPU dies of a general protection fault in libggml-cpu at the first decode.
BUILD = {"CMAKE_ARGS": "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON "
                       "-DGGML_F16C=ON -DGGML_BMI2=ON",
         "CMAKE_BUILD_PARALLEL_LEVEL": "2"}


def install() -> Path:
    return bench.virtualenv("bench-llama-venv", REQUIREMENTS, "llama.cpp's server", BUILD)
