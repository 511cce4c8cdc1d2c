"""The modules offline `vllm.LLM` loads for a dense Llama with Triton attention, imported one by
one: prints each that fails and why, then the vLLM extension libraries loaded. On CPU (this
machine) it finds the Python packages the GPU machine's vLLM set must carry; on the GPU machine it
checks the set before the engine starts.
    python tests/gpu/vllm_imports.py        exit 1 if any module fails to import
"""
import importlib
import sys

MODULES = [
    "vllm", "vllm.entrypoints.llm", "vllm.v1.engine.llm_engine", "vllm.v1.engine.core",
    "vllm.v1.executor.uniproc_executor", "vllm.v1.worker.gpu_worker", "vllm.v1.worker.gpu_model_runner",
    "vllm.model_executor.models.llama", "vllm.v1.attention.backends.triton_attn", "vllm.v1.sample.sampler",
    "vllm.v1.core.sched.scheduler", "vllm.v1.structured_output", "vllm.platforms.cuda", "vllm._custom_ops",
]


def main() -> int:
    failed = 0
    for name in MODULES:
        try:
            importlib.import_module(name)
            print(f"ok    {name}")
        except Exception as e:  # noqa: BLE001 - every failure is reported, the run goes on
            failed += 1
            missing = getattr(e, "name", None)
            print(f"FAIL  {name}: {type(e).__name__}: {e}" + (f" [missing module: {missing}]" if missing else ""))
    loaded = sorted({line.split()[-1] for line in open("/proc/self/maps") if "vllm" in line and ".so" in line})
    print("vLLM libraries loaded:", *loaded, sep="\n  ")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
