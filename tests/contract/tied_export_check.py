"""Runs inside the contract environment (transformers 4.47, NeMo 2.1.0 on CPU), not in .venv: the HF
half of NeMo's own convert_llama_nemo_to_hf.py (`replace_hf_weights_and_tokenizer`), given the
state dict its first half writes after NeMo trained a tied-embedding model's input embedding and
output layer apart, once with the base HF folder as its template, as NeMo's docs pass it, and once
with srlm_nemo.backends.nemo_aligner.untied_base's template. Writes which trained tensors survived, as JSON.

  PYTHONPATH=REPO python tied_export_check.py CONVERTER_PY BASE_HF WORK_DIR OUT.json
"""
import json
import runpy
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from srlm_nemo.backends.nemo_aligner.untied_base import untied_base


def main(converter: str, base: Path, work: Path, out: str) -> None:
    replace = runpy.run_path(converter, run_name="nemo_converter")["replace_hf_weights_and_tokenizer"]
    state = {k: v.clone() for k, v in AutoModelForCausalLM.from_pretrained(str(base)).state_dict().items()}
    embed = state["model.embed_tokens.weight"]
    state["lm_head.weight"] = embed + 0.5  # the output layer, trained apart from the embedding
    work.mkdir(parents=True, exist_ok=True)
    torch.save(state, work / "state_dict.bin")
    untied_base(base, work / "untied_template")
    result = {}
    for name, template in (("base_as_template", base), ("untied_template", work / "untied_template")):
        replace(str(work / "state_dict.bin"), torch.float32, str(template), str(work / f"out_{name}"), None, None)
        back = AutoModelForCausalLM.from_pretrained(str(work / f"out_{name}")).state_dict()
        result[name] = {"embedding_kept": torch.equal(back["model.embed_tokens.weight"], embed),
                        "output_layer_kept": torch.equal(back["lm_head.weight"], embed + 0.5)}
    with open(out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])
