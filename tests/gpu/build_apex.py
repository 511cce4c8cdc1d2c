"""On the GPU machine: the two CUDA extensions of Apex (tag 25.01, the NeMo 24.12 image's era) that
NeMo 2.1.0's DDP strategy imports through Apex's distributed Adam: `amp_C` and
`distributed_adam_cuda`. Built with torch's JIT extension builder (ninja, every core, Hopper only),
with the sources and flags of Apex's own setup.py (--cuda_ext, --distributed_adam); the built
modules are copied to OUT, which goes on the training Python's path with Apex's Python package.

    python3 tests/gpu/build_apex.py APEX_SOURCE_DIR OUT_DIR
"""
import os
import shutil
import sys
from pathlib import Path

MACROS = ["-DVERSION_GE_1_1", "-DVERSION_GE_1_3", "-DVERSION_GE_1_5"]
EXTENSIONS = {
    "amp_C": ["csrc/amp_C_frontend.cpp", "csrc/multi_tensor_sgd_kernel.cu", "csrc/multi_tensor_scale_kernel.cu",
              "csrc/multi_tensor_axpby_kernel.cu", "csrc/multi_tensor_l2norm_kernel.cu",
              "csrc/multi_tensor_l2norm_kernel_mp.cu", "csrc/multi_tensor_l2norm_scale_kernel.cu",
              "csrc/multi_tensor_lamb_stage_1.cu", "csrc/multi_tensor_lamb_stage_2.cu", "csrc/multi_tensor_adam.cu",
              "csrc/multi_tensor_adagrad.cu", "csrc/multi_tensor_novograd.cu", "csrc/multi_tensor_lamb.cu",
              "csrc/multi_tensor_lamb_mp.cu", "csrc/update_scale_hysteresis.cu"],
    "distributed_adam_cuda": ["apex/contrib/csrc/optimizers/multi_tensor_distopt_adam.cpp",
                              "apex/contrib/csrc/optimizers/multi_tensor_distopt_adam_kernel.cu"],
}


def main(src: Path, out: Path) -> None:
    os.environ.setdefault("MAX_JOBS", str(os.cpu_count()))
    os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "9.0")
    from torch.utils.cpp_extension import load
    out.mkdir(parents=True, exist_ok=True)
    for name, sources in EXTENSIONS.items():
        build = out / f"build-{name}"
        build.mkdir(exist_ok=True)
        load(name=name, sources=[str(src / s) for s in sources], extra_include_paths=[str(src / "csrc")],
             extra_cflags=["-O3", *MACROS], extra_cuda_cflags=["-O3", "--use_fast_math", "-lineinfo", *MACROS],
             build_directory=str(build), verbose=True)
        built = next(build.glob(f"{name}*.so"))
        shutil.copy(built, out / built.name)
        print(f"built {out / built.name}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
