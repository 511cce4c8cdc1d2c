"""DPO stage: M_t -> M_{t+1} on the pairs, reference model = M_t.

in : pairs.jsonl (PreferencePair), guard.json of the pairs stage, policy model M_t; with
     dpo.select=external|self the selection prompts (seed/select.jsonl or dpo.select_prompts),
     the head-to-head prompts (never the same prompts: checked), the judge and its template
out: <stage>/model (M_{t+1}, HF safetensors); which checkpoint was kept in the manifest
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

from ..artifacts import read_jsonl, write_json
from ..backends.training import TrainResult
from ..config import GENERATION_KNOBS, SELECTING, TRAINING_KNOBS
from ..pipeline import Stage, StagePartDone, reads
from ..run_layout import RunLayout
from ..schemas import PreferencePair
from ..templates import template_path
from .h2h import ANSWER_READS, JUDGE_READS, judge_input


def declare(cfg, layout: RunLayout, name: str, t: int, pairs: Stage, policy: Path, label: str) -> Stage:
    """DPO of `policy` on the pairs stage's pairs (reference = `policy`); with a checkpoint
    selection its prompts, judge and template are inputs too."""
    d = layout.stage_dir(name)
    selection = (*ANSWER_READS, *JUDGE_READS, *GENERATION_KNOBS) if cfg.dpo.select in SELECTING else ()
    return Stage(name, "dpo", d, config=reads(cfg, "dpo", *TRAINING_KNOBS, *selection),
                 inputs={"pairs": pairs.outputs["pairs"], "guard": pairs.outputs["guard"], "model": policy,
                         **_selection_inputs(cfg, layout, policy)},
                 outputs={"model": d / "model"}, iteration=t, model=label)


def _selection_inputs(cfg, layout: RunLayout, policy: Path) -> dict[str, Path]:
    if cfg.dpo.select not in SELECTING:
        return {}
    prompts = Path(cfg.dpo.select_prompts).expanduser() if cfg.dpo.select_prompts else layout.seed_file("select")
    h2h = Path(cfg.eval.h2h_prompts).expanduser() if cfg.eval.h2h_prompts else layout.seed_file("eval_trees")
    # external: the server or the model eval.judge names; self: M_{t-1} itself
    judge = {"judge": policy} if cfg.dpo.select == "self" else judge_input(cfg, layout)
    return {"select_prompts": prompts, "h2h_prompts": h2h, **judge, "template": template_path(cfg.eval.judge_template)}


def validate(stage) -> None:
    """The selection prompts and the head-to-head prompts share no prompt: a checkpoint picked on
    the prompts it is then evaluated on would inflate its head-to-head."""
    if "select_prompts" not in stage.inputs:
        return
    from ..artifacts import ArtifactError
    chosen = _prompt_texts(stage.inputs["select_prompts"])
    shared = chosen & _prompt_texts(stage.inputs["h2h_prompts"])
    if shared:
        raise ArtifactError(f"{stage.inputs['select_prompts']}: {len(shared)} of its {len(chosen)} prompts are also "
                            f"head-to-head prompts ({stage.inputs['h2h_prompts']}), e.g. {sorted(shared)[0][:60]!r}; "
                            "checkpoint selection needs prompts of its own (dpo.select_prompts, eval.h2h_prompts)")


def _prompt_texts(path: Path) -> set[str]:
    """The prompts of a selection or head-to-head file, read as the head-to-head stage reads them
    (instructions, or the seed's ranked trees by their `prompt`), normalised."""
    from ..evaluate import load_instructions
    from ..self_instruct import normalise
    return {normalise(r["instruction"]) for r in load_instructions(path)}


TRAINING_STATE = ("optimizer.pt", "scheduler.pt", "rng_state*.pth", "training_args.bin", "trainer_state.json",
                  "scaler.pt")


def _trained(stage, fp):
    """The result of a finished training of this very stage (same fingerprint), if any."""
    p = stage.dir / "work" / "train_result.json"
    if not p.exists():
        return None
    d = json.loads(p.read_text())
    if d.pop("fingerprint", None) != fp or not stage.outputs["model"].exists():
        return None
    return TrainResult(**d)


def run(ctx, stage, fp):
    pairs = read_jsonl(stage.inputs["pairs"], PreferencePair)
    out = stage.outputs["model"]
    guard = json.loads(stage.inputs["guard"].read_text()) if "guard" in stage.inputs else {}
    if guard.get("rolled_back"):  # run.guard=rollback: this data crossed a guard; M_t is not promoted
        ctx.log(f"       {stage.name}: guard crossed ({'; '.join(guard['crossed_what'])}); not training, "
                "the model is carried over (run.guard=rollback)")
        _carry_over(stage)
        return {"pairs": len(pairs), "steps": 0, "kept": "rolled_back", "rolled_back": guard["crossed_what"]}
    if not pairs:
        # Nothing to learn from: M_{t+1} = M_t, said plainly in the manifest and summary.
        ctx.log(f"       {stage.name}: no preference pairs; the model is carried over unchanged")
        _carry_over(stage)
        return {"pairs": 0, "steps": 0, "kept": "carried_over"}
    rows = [{"prompt": [m.model_dump() for m in p.prompt], "chosen": [m.model_dump() for m in p.chosen],
             "rejected": [m.model_dump() for m in p.rejected]} for p in pairs]
    if any(p.weight != 1.0 for p in pairs):  # soft labels (pairs.strategy=cream): the trainer weighs the loss
        for r, p in zip(rows, pairs):
            r["weight"] = p.weight
    result = _trained(stage, fp)
    if result is None:
        result = ctx.trainer().dpo(str(stage.inputs["model"]), rows, out, ctx.cfg.dpo)
        # kept, so a crash (or the cluster's step split) between training and selection never retrains
        write_json(stage.dir / "work" / "train_result.json", {"fingerprint": fp, **asdict(result)})
    else:
        ctx.log(f"       {stage.name}: trained already ({len(result.checkpoints)} checkpoints); not training again")
    selection = None
    if ctx.cfg.dpo.select in SELECTING:
        if ctx.train_only:
            raise StagePartDone("trained; the checkpoint selection runs as the next step")
        selection = select_checkpoint(ctx, stage, result)
    margins = [r["rewards/margins"] for r in result.log if "rewards/margins" in r]
    losses = [r["loss"] for r in result.log if "loss" in r]
    return {"pairs": len(pairs), "judge_pairs": sum(p.kind == "judgement" for p in pairs), "steps": result.steps,
            "checkpoints": result.checkpoints, "kept": selection["picked"] if selection else result.kept,
            "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
            "last_reward_margin": margins[-1] if margins else None, "selection": selection}


def _carry_over(stage) -> None:
    out = stage.outputs["model"]
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(stage.inputs["model"], tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def select_checkpoint(ctx, stage, result) -> dict:
    """Which of the saved checkpoints (and the final model) becomes M_t, judged head-to-head on the
    selection prompts. external (the paper's): each against M_{t-1}; the best win rate (ties
    half; the earlier checkpoint among equals: ours) is kept. self (ours): M_{t-1} judges, each
    against the current pick from M_{t-1} on; a win (> 0.5) makes it the pick, so M_{t-1} itself
    can stay."""
    from ..evaluate import head_to_head
    rows = _selection_rows(ctx, stage)
    work, out = stage.dir / "work", stage.outputs["model"]
    candidates = [(name, work / name) for name in result.checkpoints] + [("final", out)]
    judge = stage.inputs.get("judge")  # None: the server at eval.judge_base_url judges
    start = ("start", stage.inputs["model"])
    external = ctx.cfg.dpo.select == "external"
    current, rounds, best = start, [], None
    for name, path in candidates:
        against = start if external else current
        res, _, _ = head_to_head(ctx, path, against[1], rows, judge)
        rate = res["win_rate_ties_half"] or 0.0
        won = (best is None or rate > best) if external else rate > 0.5
        rounds.append({"candidate": name, "against": against[0], **{k: res[k] for k in ("win", "tie", "loss")},
                       "win_rate": rate, "picked": won})
        if won:
            current, best = (name, path), rate
    ctx.release_generator()
    _keep(current, out)
    return {"picked": current[0], "rounds": rounds, "prompts": len(rows), "rule": ctx.cfg.dpo.select}


def _selection_rows(ctx, stage) -> list[dict]:
    from ..evaluate import load_instructions
    return load_instructions(stage.inputs["select_prompts"])[:ctx.cfg.dpo.select_max_prompts]


def _keep(pick: tuple[str, Path], out: Path) -> None:
    """M_t is the pick: the final model stays where it is; another checkpoint replaces it."""
    name, path = pick
    if name == "final":
        return
    tmp = out.with_name("picked.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    # the model only: a training checkpoint also holds optimizer, scheduler and RNG state (pickles)
    shutil.copytree(path, tmp, ignore=shutil.ignore_patterns(*TRAINING_STATE))
    shutil.rmtree(out)
    tmp.rename(out)
