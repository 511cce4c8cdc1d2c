"""Checks of a converted model: its .nemo config against the HF checkpoint it came from.

`python -m srlm_nemo.backends.nemo_aligner.checks MODEL.nemo HF_DIR [--precision bf16]` runs the
check as a job step, right after HF -> .nemo conversion.
"""
from __future__ import annotations

import argparse
import json
import sys
import tarfile
from pathlib import Path

import yaml


class ConversionError(RuntimeError):
    pass


def read_nemo_config(nemo_path: str | Path) -> tuple[dict, list[str]]:
    with tarfile.open(nemo_path) as tar:
        names = tar.getnames()
        member = next((n for n in names if n.endswith("model_config.yaml")), None)
        if member is None:
            raise ConversionError(f"{nemo_path}: no model_config.yaml inside")
        return yaml.safe_load(tar.extractfile(member).read()), names


def verify_converted(nemo_path: str | Path, hf_config: dict, precision: str | None = None) -> dict:
    """Fails loudly when the .nemo does not describe the HF model it came from (or, given
    `precision`, was not written in it)."""
    cfg, names = read_nemo_config(nemo_path)
    problems = []
    if cfg.get("scale_positional_embedding"):
        problems.append("scale_positional_embedding is true: Llama 3.1 RoPE frequency scaling is switched on "
                        "(NeMo's convert_llama_hf_to_nemo.py does this unless given `--llama31 ''`)")
    if (cfg.get("seq_len_interpolation_factor") or cfg.get("rope_scaling")) and not hf_config.get("rope_scaling"):
        problems.append("RoPE scaling is switched on (seq_len_interpolation_factor / rope_scaling) but the HF "
                        "model has none")
    written = str(cfg.get("precision"))
    if precision is not None and written != precision:
        why = (" (NeMo's converter writes FP16 when it sees no CUDA device: run the conversion step with a GPU)"
               if precision.startswith("bf16") and written.startswith("16") else "")
        problems.append(f"precision={written} but {precision} was asked for{why}")
    for nemo_key, hf_key in (("hidden_size", "hidden_size"), ("num_layers", "num_hidden_layers"),
                             ("num_attention_heads", "num_attention_heads")):
        if cfg.get(nemo_key) != hf_config.get(hf_key):
            problems.append(f"{nemo_key}={cfg.get(nemo_key)} but the HF config has {hf_key}={hf_config.get(hf_key)}")
    vocab = cfg.get("vocab_size") or (cfg.get("tokenizer") or {}).get("vocab_size")
    if vocab is not None and vocab != hf_config.get("vocab_size"):
        problems.append(f"vocab_size={vocab} but the HF config has {hf_config.get('vocab_size')}")
    # NeMo v2.1.0's converter, given an HF folder without tokenizer.model, names a Llama 3 hub
    # tokenizer for any 32- or 80-layer model: a Llama 2 would then train on the wrong vocabulary.
    tok_type = str((cfg.get("tokenizer") or {}).get("type") or "")
    if "Llama-3" in tok_type and (hf_config.get("vocab_size") or 0) < 128000:
        problems.append(f"tokenizer.type={tok_type} but the HF model has a {hf_config.get('vocab_size')}-token "
                        "vocabulary (its folder has no tokenizer.model?)")
    if problems:
        raise ConversionError(f"{nemo_path}: " + "; ".join(problems))
    return {"checked": ["rope_scaling", "hidden_size", "num_layers", "num_attention_heads", "tokenizer"]
            + (["vocab_size"] if vocab is not None else []) + (["precision"] if precision is not None else []),
            "files": len(names)}


def hf_config(hf_dir: str | Path) -> dict:
    return json.loads((Path(hf_dir) / "config.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m srlm_nemo.backends.nemo_aligner.checks")
    ap.add_argument("nemo")
    ap.add_argument("hf_dir")
    ap.add_argument("--precision", help="the precision the conversion was asked for (e.g. bf16)")
    a = ap.parse_args()
    try:
        print(json.dumps(verify_converted(a.nemo, hf_config(a.hf_dir), a.precision)))
    except (ConversionError, OSError) as e:
        print(f"conversion check failed: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
