"""Optional experiment trackers for the report's metrics: TensorBoard and Weights & Biases.

Like the report, both are views of the manifests, rebuilt after every stage:
* TensorBoard (`log.tensorboard=true`): `<run_dir>/tensorboard/` is rewritten from scratch, so a
  resumed or re-run recipe never logs a point twice. Step = iteration t (M_{t-1} -> M_t); the
  reward-model metrics use the model's index (SFT-IFT = 0, M1 = 1, ...). Also the training loss
  (and DPO reward margin) curves of every SFT and DPO stage, by training step.
* Weights & Biases (`log.wandb_project=...`): one W&B run per run directory (its id is kept in
  `<run_dir>/wandb_id`, so a resumed recipe continues it); after each finished `srlm run` it logs
  the per-iteration table, the reward-model table and the last values as the run's summary.
  `log.wandb_mode=offline` writes locally for `wandb sync` later.
Tracker packages are imported only when configured."""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

from .run_layout import RunLayout, iteration_stage
from .summary import alpaca_scores, collect, h2h_results


def _model_step(label: str) -> int:
    return 0 if label == "SFT-IFT" else int(label[1:]) if label[1:].isdigit() else -1


def scalars(run_dir: Path) -> list[tuple[str, float, int]]:
    """(tag, value, step) for every metric the report shows."""
    s = collect(run_dir)
    out = []
    for r in s["iterations"]:
        t = r["iteration"]
        for key in ("prompts_kept", "candidates", "judge_parse_rate", "pairs", "mean_response_chars",
                    "score_length_spearman", "within_candidate_spread"):
            if isinstance(r.get(key), (int, float)):
                out.append((f"iteration/{key}", float(r[key]), t))
        for key, v in (r.get("dpo") or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out.append((f"dpo/{key}", float(v), t))
    for label, m in s["reward_model"].items():
        for key, v in m.items():
            if isinstance(v, (int, float)):
                out.append((f"reward_model/{key}", float(v), _model_step(label)))
    for label, r in alpaca_scores(run_dir).items():
        if r.get("win_rate") is not None:
            out.append(("eval/alpaca_win_rate", r["win_rate"], _model_step(label)))
    for st in h2h_results(run_dir):
        if st.get("win_rate_ties_half") is not None:
            out.append((f"eval/h2h_vs_{st['b']}", 100 * st["win_rate_ties_half"], _model_step(st["a"])))
    return out


def curves(run_dir: Path) -> list[tuple[str, float, int]]:
    """Training curves of the SFT and DPO stages, by step: (tag, value, step)."""
    out = []
    layout = RunLayout(Path(run_dir))
    trained = ["sft", "sft_ift", *(iteration_stage(t, "dpo") for t in layout.iterations())]
    for log in (p for p in (layout.output(stage, "work/train_log.jsonl") for stage in trained) if p.exists()):
        stage = log.parent.parent.relative_to(run_dir).as_posix().replace("/", "_")
        for line in log.read_text().splitlines():
            r = json.loads(line) if line.strip() else {}
            for key in ("loss", "rewards/margins"):
                if key in r and "step" in r:
                    out.append((f"train_{stage}/{key.replace('/', '_')}", float(r[key]), int(r["step"])))
    return out


def write_tensorboard(run_dir: Path) -> Path:
    from torch.utils.tensorboard import SummaryWriter
    run_dir = Path(run_dir)
    out, tmp = run_dir / "tensorboard", run_dir / "tensorboard.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    w = SummaryWriter(log_dir=str(tmp))
    for tag, value, step in scalars(run_dir) + curves(run_dir):
        w.add_scalar(tag, value, step)
    w.close()
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def log_wandb(run_dir: Path, log_cfg, config: dict) -> str:
    import wandb
    run_dir = Path(run_dir)
    id_file = run_dir / "wandb_id"
    # our own id (W&B's helper moved between versions): 8 lowercase characters, from the run directory
    run_id = id_file.read_text().strip() if id_file.exists() else \
        hashlib.sha256(f"{run_dir.resolve()}:{time.time()}".encode()).hexdigest()[:8]
    id_file.write_text(run_id + "\n")
    run = wandb.init(project=log_cfg.wandb_project, id=run_id, resume="allow", dir=str(run_dir),
                     mode=log_cfg.wandb_mode, config=config, name=run_dir.name)
    s = collect(run_dir)
    cols = ["iteration", "prompts_kept", "candidates", "judge_parse_rate", "pairs", "mean_response_chars"]
    run.log({"iterations": wandb.Table(columns=cols, data=[[r.get(c) for c in cols] for r in s["iterations"]])})
    if s["reward_model"]:
        keys = sorted({k for m in s["reward_model"].values() for k in m if k != "baselines"})
        run.log(
            {
                "reward_model": wandb.Table(
                    columns=["model", *keys],
                    data=[[label, *[m.get(k) for k in keys]] for label, m in s["reward_model"].items()],
                )
            }
        )
    for tag, value, step in scalars(run_dir):
        run.summary[f"{tag}@{step}"] = value
    run.finish()
    return run_id


def refresh(run_dir: Path, cfg, final: bool = False) -> None:
    """After each stage (TensorBoard) and at the end of `srlm run` (W&B, with the whole config)."""
    if cfg.log.tensorboard:
        write_tensorboard(run_dir)
    if final and cfg.log.wandb_project:
        from omegaconf import OmegaConf
        log_wandb(run_dir, cfg.log, OmegaConf.to_container(OmegaConf.structured(cfg)))
