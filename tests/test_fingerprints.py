"""The fingerprint rule: a stage's fingerprint covers everything its `run` reads (its declared
config paths, the contents of every template it renders, the engine knobs that change its
outputs), so a change re-runs exactly the stages that read it and everything downstream.

Each case below changes one thing and compares the stages whose planned fingerprints change
with the stages named here by hand plus their downstream (found from the stage graph's
inputs and outputs). The runner's side of the rule (a stage cannot read undeclared config, and
every template it renders must be an input) is tested at the bottom; every `srlm run` in the
suite runs under it."""
import shutil
from pathlib import Path

import pytest

from srlm_nemo.recipes.self_rewarding import recipe_stages
from srlm_nemo.config import load_config
from srlm_nemo.pipeline import ConfigView, Stage, StageContext, UndeclaredRead, planned_fingerprints, reads, run_stage

REPO = Path(__file__).resolve().parent.parent
GENERATING = {"iter_2/prompts", "iter_2/candidates", "iter_2/judge", "eval/rm/M1", "iter_3/prompts",
              "iter_3/candidates", "iter_3/judge", "eval/rm/M2", "eval/rm/M3", "eval/h2h/M2_vs_M1",
              "eval/h2h/M3_vs_M2"}


def _stages(model, run_dir, *overrides):
    cfg = load_config(["experiment=tiny", "model=hf_dir", f"model.path={model}", f"run.run_dir={run_dir}",
                       *overrides])[0]
    return recipe_stages(cfg, Path(run_dir), Path(model))


def _with_downstream(stages, names: set) -> set:
    out, grew = set(names), True
    while grew:
        made = {p for s in stages if s.name in out for p in s.outputs.values()}
        more = {s.name for s in stages if s.name not in out and made & set(s.inputs.values())}
        out |= more
        grew = bool(more)
    return out


def _changed(fa: dict, fb: dict) -> set:
    assert fa.keys() == fb.keys()
    return {n for n in fa if fa[n] != fb[n]}


@pytest.fixture
def prompts_copy(tmp_path, monkeypatch):
    d = tmp_path / "prompts"
    shutil.copytree(REPO / "prompts", d)
    monkeypatch.setenv("SRLM_PROMPTS_DIR", str(d))
    return d


# (override, the stages that read it; their downstream re-runs too)
OVERRIDES = [
    ("model.dtype=bfloat16", GENERATING),
    ("model.max_model_len=1024", GENERATING),
    ("generation.seed_mode=request", GENERATING),
    ("generation=openai", GENERATING),  # another engine samples other text
    ("run.seed=7", GENERATING),
    ("model.system_prompt=Be_brief.", {"sft", "iter_2/candidates", "iter_2/judge", "iter_2/pairs", "eval/rm/M1",
                                       "iter_3/candidates", "iter_3/judge", "iter_3/pairs", "eval/rm/M2", "eval/rm/M3",
                                       "eval/h2h/M2_vs_M1", "eval/h2h/M3_vs_M2"}),
    ("training.bf16=true", {"sft", "iter_2/dpo", "iter_3/dpo"}),
    ("sft.learning_rate=0.5", {"sft"}),
    ("prompts.temperature=0.3", {"iter_2/prompts", "iter_3/prompts"}),
    ("prompts.num_prompts=5", {"iter_2/prompts", "iter_3/prompts"}),
    # iteration 2 keeps tiny's 4 prompts: only iteration 3's target changes
    ("prompts.num_prompts_by_iteration=[4,6]", {"iter_3/prompts"}),
    ("candidates.temperature=0.3", {"iter_2/candidates", "iter_3/candidates"}),
    ("judge.k=2", {"iter_2/judge", "iter_3/judge", "eval/rm/M1", "eval/rm/M2", "eval/rm/M3"}),
    ("pairs.length_rho=0.5", {"iter_2/pairs", "iter_3/pairs"}),
    ("pairs.strategy=length_control", {"iter_2/pairs", "iter_3/pairs"}),
    ("dpo.beta=0.3", {"iter_2/dpo", "iter_3/dpo"}),
    ("eval.temperature=0.3", {"eval/h2h/M2_vs_M1", "eval/h2h/M3_vs_M2"}),
    ("seed.num_ift=12", {"seed"}),
    # deliberately not in any fingerprint: speed and placement, not results (srlm_nemo/config.py)
    ("generation.batch_size=3", set()),
    ("generation.enable_prefix_caching=false", set()),
    ("generation.tensor_parallel_size=2", set()),
    ("training.torch_threads=1", set()),
    ("seed.eft_max_score_ratio=2.0", set()),  # read only by the EFT builder, which tiny does not run
]


@pytest.mark.parametrize("override,direct", OVERRIDES, ids=[o for o, _ in OVERRIDES])
def test_an_override_reruns_exactly_what_reads_it(tiny_model, tmp_path, override, direct):
    before = _stages(tiny_model, tmp_path)
    after = _stages(tiny_model, tmp_path, override)
    assert _changed(planned_fingerprints(before), planned_fingerprints(after)) == _with_downstream(before, direct)


TEMPLATES = [
    ("self_instruct.j2", {"iter_2/prompts", "iter_3/prompts"}),
    # M1 trains on EFT examples rendered with the judge template
    ("judge.j2", {"sft", "iter_2/judge", "iter_3/judge", "eval/rm/M1", "eval/rm/M2", "eval/rm/M3"}),
    ("pairwise.j2", {"eval/h2h/M2_vs_M1", "eval/h2h/M3_vs_M2"}),
    ("mt_bench_single.j2", set()),  # only `srlm eval mtbench` reads it
]


@pytest.mark.parametrize("name,direct", TEMPLATES, ids=[n for n, _ in TEMPLATES])
def test_editing_a_template_reruns_exactly_what_renders_it(tiny_model, tmp_path, prompts_copy, name, direct):
    before = _stages(tiny_model, tmp_path)
    planned = planned_fingerprints(before)
    with open(prompts_copy / name, "a") as f:
        f.write("\nOne more sentence of instructions.")
    after = _stages(tiny_model, tmp_path)
    assert _changed(planned, planned_fingerprints(after)) == _with_downstream(before, direct)


def test_pairwise_template_reaches_checkpoint_selection(tiny_model, tmp_path, prompts_copy):
    before = _stages(tiny_model, tmp_path, "dpo.select=self")
    planned = planned_fingerprints(before)
    (prompts_copy / "pairwise.j2").write_text((prompts_copy / "pairwise.j2").read_text() + "\nBe fair.")
    after = _stages(tiny_model, tmp_path, "dpo.select=self")
    direct = {"iter_2/dpo", "iter_3/dpo", "eval/h2h/M2_vs_M1", "eval/h2h/M3_vs_M2"}
    assert _changed(planned, planned_fingerprints(after)) == _with_downstream(before, direct)


# --- the runner's side: what a stage may read -------------------------------------------

def _cfg():
    return load_config(["experiment=tiny"])[0]


def test_a_stage_sees_only_the_config_it_declared():
    view = ConfigView(_cfg(), reads(_cfg(), "judge", "model.system_prompt"), "iter_2/judge")
    assert view.judge.k == 3 and view.model.system_prompt is None
    with pytest.raises(UndeclaredRead, match=r"iter_2/judge reads config `model.dtype`"):
        view.model.dtype
    with pytest.raises(UndeclaredRead, match=r"`prompts`"):
        view.prompts


class _Ctx:
    cfg, quiet, shard_worker, train_only, run_dir = _cfg(), True, None, False, "/nonexistent"

    def log(self, msg):
        pass

    def generator(self, model):
        return "engine"


def _stage(tmp_path, config, inputs=None):
    return Stage("x", "x", tmp_path / "x", config=config, inputs=inputs or {}, outputs={})


def test_engines_only_for_stages_that_declare_their_knobs(tmp_path):
    from srlm_nemo.config import GENERATION_KNOBS
    bare = StageContext(_Ctx(), _stage(tmp_path, reads(_cfg(), "candidates")))
    with pytest.raises(UndeclaredRead, match="model.dtype"):
        bare.generator("m")
    full = StageContext(_Ctx(), _stage(tmp_path, reads(_cfg(), "candidates", *GENERATION_KNOBS)))
    assert full.generator("m") == "engine"


def test_a_rendered_template_must_be_an_input(tmp_path):
    from srlm_nemo.templates import render, template_path

    def runner(ctx, stage, fp):
        render("pairwise.j2", question="q", response_a="a", response_b="b")
        return {}
    with pytest.raises(UndeclaredRead, match="pairwise.j2"):
        run_stage(_stage(tmp_path, {}), _Ctx(), runner)
    ok = run_stage(_stage(tmp_path, {}, {"template": template_path("pairwise.j2")}), _Ctx(), runner)
    assert ok["fingerprint"]
