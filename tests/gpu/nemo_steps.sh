#!/usr/bin/env bash
# On the GPU machine, call 2 of 2 (issue 23): the NeMo steps through `srlm cluster smoke`, right after
# tests/gpu/te_steps.sh (call 1), whose .gpu-env/te (Transformer Engine) and .gpu-env/apex (Apex with
# its CUDA extensions built) the warm machine still holds:
#   run: bash tests/gpu/nemo_steps.sh     carry: .gpu-env.tar.xz .gpu-src     timeout: what is left (<= 600 s)
# (tests/gpu/fetch_wheels.sh makes both here first, about 5 minutes; they travel within 64 MiB.)
# Logs come back under $OUT: imports.txt, smoke.txt, logs.tar.gz.
#
# Two Pythons: srlm runs in the machine's python3 (transformers 5, torch 2.11 with CUDA) with only its
# own small dependencies added (.gpu-env/srlm); NeMo's and NeMo-Aligner's scripts run in the same
# python3 with .gpu-env/nemo, .gpu-env/apex and .gpu-env/te first on the path (NeMo 2.1.0's
# transformers 4.47, lightning 2.4.0 ...; the image's numpy 2).
# What differs from the NeMo container (README, Status): Transformer Engine 2.20.2 (sm_90 only) for
# the container's 1.x; Apex 25.01's Python package with only the two CUDA extensions NeMo's DDP
# strategy imports; numpy 2; lightning 2.4.0; the machine's torch 2.11.0+cu130.
# Seen before TE (2026-11-28, three runs): NeMo 2.1.0 builds no GPT model without TE (NLPModel.__init__
# imports bert_spec.py, whose fallback raises NameError: ApexGuardDefaults).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
out=${OUT:-runs/gpu-out}
mkdir -p "$out" .gpu-env/srlm
if ! ls .gpu-env/apex/amp_C*.so >/dev/null 2>&1 || [ ! -d .gpu-env/te/transformer_engine ]; then
  echo "no .gpu-env/te or built Apex here: run tests/gpu/te_steps.sh first, on the same warm machine" >&2; exit 3
fi
# Python's own xz reader: the machine may have no xz binary for tar -J
python3 -c "import tarfile; tarfile.open('.gpu-env.tar.xz').extractall('.gpu-env')"
echo "unpacked: $(du -sm .gpu-env | cut -f1) MB"
# NeMo 2.1.0 pins numpy 1.x, but the image's compiled packages (scipy) need numpy 2 (np.long),
# seen in the first run: NeMo runs on the image's numpy 2
rm -rf .gpu-env/nemo/numpy .gpu-env/nemo/numpy.libs .gpu-env/nemo/numpy-*.dist-info
# srlm's own dependencies that the image lacks, from the same unpacked set
for d in hydra omegaconf antlr4 pydantic pydantic_core annotated_types typing_inspection rapidfuzz; do
  ln -sfn "$PWD/.gpu-env/nemo/$d" ".gpu-env/srlm/$d"
done
# NVIDIA_PYTORCH_VERSION: NeMo 2.1.0's MegatronBaseModel reads it as the NGC container sets it and raises a
# TypeError when it is unset (re.fullmatch(None), seen on CPU); 24.12 is the NeMo image of Apex 25.01's era
printf '#!/bin/sh\nNVIDIA_PYTORCH_VERSION=24.12 PYTHONPATH=%s/.gpu-env/nemo:%s/.gpu-env/apex:%s/.gpu-env/te:%s/.gpu-env/srlm:%s exec python3 "$@"\n' \
  "$PWD" "$PWD" "$PWD" "$PWD" "$PWD" > .gpu-env/nemo-python
chmod +x .gpu-env/nemo-python
# How far each NeMo script gets at import
(
  N=.gpu-src/NeMo A=.gpu-src/NeMo-Aligner/examples/nlp/gpt i=0
  for c in "-m srlm_nemo.backends.nemo_aligner.run_aligner_dpo $A/train_gpt_dpo.py --cfg job" "$A/train_gpt_sft.py --cfg job" \
           "$N/scripts/checkpoint_converters/convert_llama_hf_to_nemo.py --help" \
           "$N/examples/nlp/language_modeling/megatron_ckpt_to_nemo.py --help"; do
    i=$((i + 1))
    # shellcheck disable=SC2086  # the words of $c are the arguments
    timeout 60 .gpu-env/nemo-python $c > "$out/imports-$i.log" 2>&1
    echo "exit $? :: $c :: $(grep -E 'Error|error:' "$out/imports-$i.log" | tail -1 | cut -c1-300)" >> "$out/imports.txt"
  done
)
cat "$out/imports.txt"
PYTHONPATH="$PWD:$PWD/.gpu-env/srlm" timeout 280 python3 -m srlm_nemo.cli cluster smoke --force \
  --python .gpu-env/nemo-python --nemo-dir .gpu-src/NeMo --aligner-dir .gpu-src/NeMo-Aligner \
  --work runs/gpu-smoke generation=hf \
  2>&1 | tee "$out/smoke.txt"
tar -czf "$out/logs.tar.gz" -C runs/gpu-smoke logs
