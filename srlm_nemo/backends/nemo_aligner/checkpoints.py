"""Where NeMo-Aligner's files of a training stage live, and the checkpoints it saved."""
from __future__ import annotations

import re
from pathlib import Path


def work_dir(stage_dir: str | Path) -> Path:
    """Where a stage's NeMo files live: data, input.nemo, results/ (NeMo's log dir). Under the
    stage's work/, so a stage whose inputs or config changed starts clean, while a resumed one
    (requeue, resubmission) finds NeMo's checkpoints and NeMo resumes from them."""
    return Path(stage_dir) / "work" / "nemo"


# The final .nemo is <out_dir>/checkpoints/<exp_manager.name>.nemo; the example configs name it
# differently (megatron_gpt_sft / megatron_gpt), so both commands set it.
NEMO_NAME = "megatron_gpt"


def final_nemo(out_dir: str) -> str:
    return f"{out_dir}/checkpoints/{NEMO_NAME}.nemo"


def saved_checkpoints(ckpt_dir: Path) -> list[str]:
    """The checkpoints a NeMo-Aligner run saved, in step order, without the `-last` copy.
    Distributed checkpoints (the default for Megatron-core models) are folders whose names drop
    the `.ckpt` of the name NeMo formats (nlp_overrides.NLPDDPStrategy.save_checkpoint); legacy
    ones are `.ckpt` files, inside `mp_rank_*` / `tp_rank_*_pp_rank_*` folders when model-parallel.
    megatron_ckpt_to_nemo.py takes either name as --checkpoint_name."""
    names = set()
    for p in Path(ckpt_dir).iterdir() if Path(ckpt_dir).is_dir() else ():
        if p.name.startswith(("mp_rank_", "tp_rank_")) and p.is_dir():
            names.update(f.name for f in p.glob("*.ckpt"))
        elif p.is_dir() or p.suffix == ".ckpt":
            names.add(p.name)
    return sorted((n for n in names if checkpoint_step(n) is not None and "-last" not in n), key=checkpoint_step)


def checkpoint_step(name: str) -> int | None:
    """`megatron_gpt--validation_loss=0.61-step=200-consumed_samples=3200.0.ckpt` -> 200."""
    m = re.search(r"step=(\d+)", name)
    return int(m.group(1)) if m else None


def checkpoint_label(name: str) -> str:
    """The HF export's directory name: `step-200` (or the file name without `.ckpt`)."""
    step = checkpoint_step(name)
    return f"step-{step}" if step is not None else name.removesuffix(".ckpt")
