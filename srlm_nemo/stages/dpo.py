"""DPO stage: M_t -> M_{t+1} on the pairs, reference model = M_t.

in : pairs.jsonl (PreferencePair), policy model M_t
out: <stage>/model (M_{t+1}, HF safetensors); which checkpoint was kept in the manifest
"""
from __future__ import annotations

import shutil

from ..artifacts import read_jsonl
from ..schemas import PreferencePair


def run(ctx, stage, fp):
    pairs = read_jsonl(stage.inputs["pairs"], PreferencePair)
    out = stage.outputs["model"]
    if not pairs:
        # Nothing to learn from: M_{t+1} = M_t, said plainly in the manifest and summary.
        ctx.log(f"       {stage.name}: no preference pairs; the model is carried over unchanged")
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(stage.inputs["model"], tmp)
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
        return {"pairs": 0, "steps": 0, "kept": "carried_over"}
    rows = [{"prompt": [m.model_dump() for m in p.prompt], "chosen": [m.model_dump() for m in p.chosen],
             "rejected": [m.model_dump() for m in p.rejected]} for p in pairs]
    result = ctx.trainer().dpo(str(stage.inputs["model"]), rows, out, ctx.cfg.dpo)
    margins = [r["rewards/margins"] for r in result.log if "rewards/margins" in r]
    losses = [r["loss"] for r in result.log if "loss" in r]
    return {"pairs": len(pairs), "steps": result.steps, "checkpoints": result.checkpoints,
            "kept": result.kept, "first_loss": losses[0] if losses else None,
            "last_loss": losses[-1] if losses else None,
            "last_reward_margin": margins[-1] if margins else None}
