#!/usr/bin/env bash
# On the GPU machine (issue 27, part 2), one call carrying .gpu-vllm.tar.xz (tests/gpu/build_vllm.sh):
#   run(command="bash tests/gpu/vllm_steps.sh", carry=[".gpu-vllm.tar.xz"], timeout_s=540)
# 1. the set unpacked and its modules imported (tests/gpu/vllm_imports.py), Triton attention;
# 2. two models with random bf16 weights (throughput depends on shape and lengths, not on the
#    weights): SmolLM2-135M's architecture with its tokenizer, and a Llama of about 1B parameters;
# 3. benchmarks/generation.py on each: ours, raw vLLM and hf, with a prefill pass (the ratios
#    ours/raw and vllm/hf are its last line), rates written to $OUT for `srlm plan`;
# 4. prefix caching off, ours only, on the 1B model (its effect on the K judgements);
# 5. generation.seed_mode=request: the same requests twice give the same texts.
# Prepared here and not yet run (no GPU lent so far): read its output before trusting a figure.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p .gpu-vllm "$OUT" && tar -xJf .gpu-vllm.tar.xz -C .gpu-vllm || exit 1
export PYTHONPATH=$PWD/.gpu-vllm/vllm:$PWD VLLM_ATTENTION_BACKEND=TRITON_ATTN HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 tests/gpu/vllm_imports.py || exit 1
python3 - <<'PY' || exit 1
import json, shutil, torch
from pathlib import Path
from transformers import AutoConfig, AutoModelForCausalLM
skel = Path(".gpu-vllm/vllm/smollm2-skeleton")
for name, over in (("smollm2", {}), ("llama1b", dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=16,
                                                      num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=False))):
    out = Path(".gpu-models") / name
    conf = AutoConfig.from_pretrained(skel, **over)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(conf, dtype=torch.bfloat16)
    model.save_pretrained(out)
    for f in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json"):
        shutil.copy(skel / f, out / f)
    print(name, sum(p.numel() for p in model.parameters()) / 1e9, "B parameters")
PY
gpu=(model=hf_dir model.dtype=bfloat16 generation.seed_mode=request)
for m in smollm2 llama1b; do
  echo "== $m: ours, raw, hf"
  timeout 200 python3 benchmarks/generation.py --engines ours,raw,hf --prefill --rates-out "$OUT/rates_$m.json" \
    "${gpu[@]}" model.path=.gpu-models/$m
done
echo "== llama1b: prefix caching off (ours)"
timeout 90 python3 benchmarks/generation.py --engines ours "${gpu[@]}" model.path=.gpu-models/llama1b generation.enable_prefix_caching=false
echo "== request seeds: the same requests twice"
timeout 90 python3 - <<'PY'
from srlm_nemo.config import load_config
from srlm_nemo.backends.vllm_engine import VLLMGenerator
from srlm_nemo.schemas import Sampling
cfg = load_config(["model=hf_dir", "model.path=.gpu-models/smollm2", "model.dtype=bfloat16", "generation.seed_mode=request"])[0]
gen = VLLMGenerator(".gpu-models/smollm2", cfg.generation, cfg.model)
convs = [[{"role": "user", "content": f"Write one sentence about the number {i}."}] for i in range(32)]
s = Sampling(n=3, temperature=0.7, top_p=0.9, max_tokens=64, seed=1234)
a, b = gen.chat(convs, s), gen.chat(list(reversed(convs)), s)
same = [x.text for r in a for x in r] == [x.text for r in reversed(b) for x in r]
print("request-seeded reproducibility:", "SAME" if same else "DIFFERENT")
PY
