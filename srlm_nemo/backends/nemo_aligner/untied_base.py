"""`python -m srlm_nemo.backends.nemo_aligner.untied_base BASE_HF OUT_DIR`: the HF folder NeMo's .nemo -> HF
converter is given as its template (`--hf_input_path`), with the input embedding and the output
layer untied.

Why: NeMo's Llama conversion gives a tied-embedding model (SmolLM2, Llama 3.2 1B/3B) a separate
output layer (its `share_embeddings_and_output_weights` is false), and training moves the two
apart. On the way back, NeMo 2.1.0's converter loads the template with transformers, where a tied
config makes `lm_head.weight` and `embed_tokens.weight` one tensor, and copies both trained
tensors into it: the output layer, copied last, replaces the trained input embedding, and the
folder saved holds one of the two. With the template untied, both are kept. A template already
untied (Llama 2) is passed through unchanged.

OUT_DIR gets the base's config.json (with `tie_word_embeddings: false`) and links to every other
file of the base, so the template costs no copy of the weights.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def untied_base(base: Path, out: Path) -> bool:
    """Writes OUT_DIR; returns whether the base was tied."""
    out.mkdir(parents=True, exist_ok=True)
    config = json.loads((base / "config.json").read_text())
    tied = bool(config.get("tie_word_embeddings", False))
    config["tie_word_embeddings"] = False
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    for f in base.iterdir():
        link = out / f.name
        if f.name != "config.json" and not link.exists():
            link.symlink_to(f.resolve())
    return tied


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m srlm_nemo.backends.nemo_aligner.untied_base BASE_HF OUT_DIR")
    was_tied = untied_base(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"{sys.argv[2]}: template for NeMo's .nemo -> HF converter"
          + (" (the base ties its embeddings: untied, as NeMo trained them)" if was_tied else ""))
