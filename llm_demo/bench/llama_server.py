"""llama-cpp-python's OpenAI-compatible server with the lab's llama.cpp settings (llamacpp.plain_kernels: no AMX or
repacked weights, which crashed on an AMX CPU). Run: `python -m llm_demo.bench.llama_server --model FILE.gguf ...`
(the same flags as `python -m llama_cpp.server`); the tests and benchmarks start their model server with it."""
import runpy

from llm_demo.llamacpp import plain_kernels

if __name__ == "__main__":
    plain_kernels()
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
