#!/usr/bin/env bash
# On the GPU machine, call 1 of 2 (issue 23), issued right before tests/gpu/nemo_steps.sh so that the
# machine is still warm (30 s) and keeps what this call left in the git-ignored .gpu-env/:
#   run: bash tests/gpu/te_steps.sh     carry: .gpu-te.tar.xz .gpu-src     timeout: 420 s
# Made here first: .gpu-te.tar.xz by tests/gpu/build_te.sh (25 MiB), .gpu-src by
# tests/gpu/fetch_wheels.sh. Why two calls: the NeMo set (54 MiB) and Transformer Engine (25 MiB)
# do not fit one call's 64 MiB together.
# It leaves: .gpu-env/te (Transformer Engine 2.20.2, sm_90 only), .gpu-env/apex (Apex 25.01 with
# amp_C and distributed_adam_cuda built here). Under $OUT: gpu.txt, te.txt, apex.txt.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
out=${OUT:-runs/gpu-out}
mkdir -p "$out" .gpu-env/apex
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
python3 -c "import tarfile; tarfile.open('.gpu-te.tar.xz').extractall('.gpu-env')"
cp -r .gpu-src/apex/apex .gpu-env/apex/
# TE on the GPU: the import (torch first; TE's own __init__ swallows an ImportError of
# transformer_engine.pytorch, so it is imported by name), cuDNN's version (TE 2.20 wants >= 9.12),
# and one TE Linear in BF16 against torch's matmul of the same weights
PYTHONPATH=$PWD/.gpu-env/te timeout 120 python3 - > "$out/te.txt" 2>&1 <<'EOF'
import torch, transformer_engine, transformer_engine.pytorch as te
print("transformer_engine", transformer_engine.__version__, "| torch", torch.__version__,
      "| cuDNN", torch.backends.cudnn.version(), "| GPU", torch.cuda.get_device_name())
torch.manual_seed(0)
layer = te.Linear(1024, 4096, bias=True, params_dtype=torch.bfloat16).cuda()
x = torch.randn(64, 1024, device="cuda", dtype=torch.bfloat16)
with torch.no_grad():
    ours, ref = layer(x).float(), (x.float() @ layer.weight.float().T + layer.bias.float())
print("te.Linear bf16 vs float32 matmul: max |diff|", float((ours - ref).abs().max()),
      "| max |ref|", float(ref.abs().max()))
EOF
echo "te check exit $?: $(tail -1 "$out/te.txt")"
timeout 240 python3 tests/gpu/build_apex.py .gpu-src/apex .gpu-env/apex > "$out/apex.txt" 2>&1
echo "apex build exit $?: $(tail -1 "$out/apex.txt")"
