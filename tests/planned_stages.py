"""The planned stages of a set of configurations, written so that two versions of the code can be
compared: names, kinds, the config each reads, inputs, outputs, labels and planned fingerprints.

Paths inside the run directory are written relative to it; files outside it (templates, the
shipped demo seed) by their content's sha256, so moving them inside the package changes
nothing; a path that does not exist by its name under the temporary folder.

    python tests/planned_stages.py > tests/data/planned_stages.json   # regenerate (on purpose only)
"""
from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

# Each: the overrides on top of the demo experiment (the default) or another experiment.
CASES = {
    "demo": [],
    "demo_eft_builder": ["seed.run_eft_builder=true"],
    "demo_cream": ["pairs.strategy=cream", "run.iterations=3"],
    "demo_cream_judge": ["pairs.strategy=cream_judge"],
    "demo_temporal": ["pairs.strategy=temporal", "run.iterations=4"],
    "demo_length_control_no_rm": ["pairs.strategy=length_control", "eval.rm=false"],
    "demo_meta": ["judge.meta=true"],
    "demo_reference_judge": ["guard.reference_judge=M1"],
    "demo_select_h2h": ["dpo.select=self", "eval.h2h_each_iteration=true", "eval.h2h_final=true"],
    "demo_select_external": ["eval.judge_base_url=http://127.0.0.1:8000/v1", "eval.judge_model=judge"],
    "demo_fixed_generator": ["prompts.generator=embedded:smollm2-135m"],
    "llama2_70b_h100": ["experiment=llama2_70b_h100"],
    "llama2_7b_h100": ["experiment=llama2_7b_h100"],
}


def _build(overrides: list[str]):
    """The recipe's stages and the run directory, wherever this version keeps its builder."""
    from srlm_nemo.config import load_config
    try:
        from srlm_nemo.recipes.self_rewarding import build
    except ImportError:  # the layout before the package held its recipes
        from recipes.self_rewarding import build
    cfg = load_config(overrides)[0]
    return build(cfg), Path(cfg.run.run_dir).expanduser().resolve()


def _path(p: Path, run_dir: Path, tmp: Path) -> str:
    p = Path(p)
    if p.resolve().is_relative_to(run_dir):
        return "<run>/" + p.resolve().relative_to(run_dir).as_posix()
    if p.is_file():
        return "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest()
    if p.is_relative_to(tmp):
        return "<tmp>/" + p.relative_to(tmp).as_posix()
    return str(p)


def planned(name: str, overrides: list[str], tmp: Path) -> list[dict]:
    from srlm_nemo.pipeline import planned_fingerprints
    run = tmp / name / "run"
    # model.dtype=auto would depend on this machine's CPU: fixed here
    stages, run_dir = _build(
        [*overrides, "model.dtype=float32", f"run.run_dir={run}", f"run.cache_dir={tmp / 'cache'}"]
    )
    prints = planned_fingerprints(stages)
    out = []
    for s in stages:
        out.append({
            "name": s.name, "kind": s.kind, "dir": _path(s.dir, run_dir, tmp), "iteration": s.iteration,
            "model": s.model, "extra": s.extra, "config": json.loads(json.dumps(s.config, default=str)),
            "inputs": {k: _path(v, run_dir, tmp) for k, v in sorted(s.inputs.items())},
            "outputs": {k: _path(v, run_dir, tmp) for k, v in sorted(s.outputs.items())},
            "fingerprint": prints[s.name],
        })
    return out


def all_cases() -> dict:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d).resolve()
        # the embedded model's place in the cache, with fixed contents: its hash is the same in every run
        fake = tmp / "cache" / "models" / "smollm2-135m"
        fake.mkdir(parents=True)
        (fake / "config.json").write_text('{"model_type": "fake"}\n')
        return {name: planned(name, overrides, tmp) for name, overrides in CASES.items()}


if __name__ == "__main__":
    json.dump(all_cases(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
