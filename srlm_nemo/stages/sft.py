"""SFT stage: M0 -> M1 on IFT + EFT (or IFT only, for the EFT builder's model).

in : ift.jsonl (IFTExample), eft_train.jsonl (EFTExample, optional), base model (HF dir)
out: <stage>/model (HF safetensors + tokenizer + chat template)
"""
from __future__ import annotations

import random
from pathlib import Path

from ..artifacts import read_jsonl
from ..config import TRAINING_KNOBS
from ..pipeline import Stage, reads
from ..run_layout import RunLayout
from ..schemas import EFTExample, IFTExample
from ..templates import chat, judge_prompt, template_path


def declare(cfg, layout: RunLayout, name: str, label: str, ift: Path, base_model: Path,
            eft_train: Path | None = None) -> Stage:
    """SFT of `base_model` on IFT (+ EFT, rendered with the judge template, which is then an
    input): M1 (`sft`), or the EFT builder's IFT-only model (`sft_ift`)."""
    d = layout.stage_dir(name)
    eft = {} if eft_train is None else {"eft_train": eft_train, "judge_template": template_path(cfg.judge.template)}
    config = reads(cfg, "sft", *(["judge.template"] if eft else []), "model.system_prompt", *TRAINING_KNOBS)
    return Stage(name, "sft", d, config=config, inputs={"ift": ift, **eft, "model": base_model},
                 outputs={"model": d / "model"}, model=label)


def sft_examples(ift, eft, judge_template: str, system_prompt=None) -> list[dict]:
    """TRL conversational prompt-completion rows: the loss covers the completion only."""
    rows = [{"prompt": chat(system_prompt, e.prompt),
             "completion": [{"role": "assistant", "content": e.response}]} for e in ift]
    rows += [{"prompt": chat(system_prompt, judge_prompt(judge_template, e.question, e.response)),
              "completion": [{"role": "assistant", "content": e.judgement}]} for e in eft]
    return rows


def run(ctx, stage, fp):
    cfg = ctx.cfg
    ift = read_jsonl(stage.inputs["ift"], IFTExample)
    eft = read_jsonl(stage.inputs["eft_train"], EFTExample) if "eft_train" in stage.inputs else []
    rows = sft_examples(ift, eft, cfg.judge.template if eft else None, cfg.model.system_prompt)
    random.Random(cfg.sft.seed).shuffle(rows)
    result = ctx.trainer().sft(str(stage.inputs["model"]), rows, stage.outputs["model"], cfg.sft)
    losses = [r["loss"] for r in result.log if "loss" in r]
    return {"examples": len(rows), "ift": len(ift), "eft": len(eft), "steps": result.steps,
            "checkpoints": result.checkpoints, "kept": result.kept,
            "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None}
