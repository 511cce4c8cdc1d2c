import pytest

from srlm_nemo.config import Config, ConfigError, load_config

from .conftest import srlm


def test_paper_defaults():
    c = Config()
    assert (c.candidates.n, c.candidates.temperature, c.candidates.top_p) == (4, 0.7, 0.9)
    assert (c.judge.k, c.prompts.temperature, c.prompts.top_p) == (3, 0.6, 0.9)
    assert (c.prompts.shots_ift, c.prompts.shots_generated, c.prompts.rouge_threshold) == (6, 2, 0.7)
    assert (c.dpo.beta, c.dpo.learning_rate, c.dpo.min_learning_rate) == (0.1, 1e-6, 1e-7)
    assert (c.sft.learning_rate, c.sft.min_learning_rate, c.sft.lr_scheduler) == (5.5e-6, 1.1e-6, "cosine_with_min_lr")
    assert (c.sft.global_batch_size, c.dpo.global_batch_size, c.sft.dropout, c.dpo.dropout) == (16, 16, 0.1, 0.1)
    assert c.run.iterations == 3 and c.dpo.save_steps == 200


def test_demo_changes_sizes_not_method():
    demo, _ = load_config([])
    paper = Config()
    assert demo.run.experiment == "demo"
    for sec, keys in {"candidates": ("n", "temperature", "top_p"), "judge": ("k", "temperature", "top_p"),
                      "prompts": ("shots_ift", "shots_generated", "temperature", "top_p", "rouge_threshold"),
                      "dpo": ("beta", "dropout"), "sft": ("dropout", "lr_scheduler"), "run": ("iterations",)}.items():
        for k in keys:
            assert getattr(getattr(demo, sec), k) == getattr(getattr(paper, sec), k), f"{sec}.{k}"
    assert demo.prompts.num_prompts >= 16


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match="judge.kk"):
        load_config(["judge.kk=3"])


def test_bad_value_is_named():
    with pytest.raises(ConfigError, match="candidates.n"):
        load_config(["candidates.n=1"])
    with pytest.raises(ConfigError, match="sft.global_batch_size"):
        load_config(["sft.global_batch_size=6", "sft.micro_batch_size=4"])
    with pytest.raises(ConfigError, match="judge.k"):
        load_config(["judge.k=three"])


def test_experiments_compose():
    cfg, _ = load_config(["experiment=paper"])
    assert cfg.model.name == "llama-2-70b" and cfg.prompts.num_prompts == 5000


@pytest.mark.parametrize("override,key", [("+candidates.temprature=0.0", "candidates.temprature"),
                                          ("++judge.kk=3", "judge.kk"), ("+run.iteratons=2", "run.iteratons")])
def test_an_added_key_nothing_reads_is_refused(override, key):
    """Hydra's own error for `judge.kk=3` suggests `+judge.kk=3`, which it then accepts: the
    value would be ignored without a word."""
    with pytest.raises(ConfigError, match=f"unknown configuration key.*{key.replace('.', '[.]')}"):
        load_config(["experiment=tiny", override])


@pytest.mark.parametrize("experiment,expected", [("tiny", "hf"), ("llama2_70b_h100", "vllm"), ("demo", "vllm")])
def test_a_backend_chosen_on_the_command_line_wins_over_the_experiments(experiment, expected):
    assert load_config([f"experiment={experiment}"])[0].generation.name == expected
    assert load_config([f"experiment={experiment}", "generation=openai"])[0].generation.name == "openai"
    assert load_config(["generation=hf", f"experiment={experiment}"])[0].generation.name == "hf"


@pytest.mark.parametrize("key", ["generation.api_key_env", "eval.judge_api_key_env"])
def test_a_key_pasted_where_its_variable_name_goes_is_refused_without_echoing_it(key):
    secret = "sk-proj-0123456789abcdefABCDEF"
    with pytest.raises(ConfigError) as e:
        load_config(["experiment=tiny", f"{key}={secret}"])
    assert key in str(e.value) and secret not in str(e.value)
    assert load_config(["experiment=tiny", f"{key}=MY_SERVER_KEY"])[0]


def test_auto_dtype_is_resolved_before_anything_reads_it(monkeypatch):
    import srlm_nemo.config as config
    for fast, dtype in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(config, "cpu_has_fast_bf16", lambda fast=fast: fast)
        cfg, dcfg = load_config(["model.dtype=auto"])
        assert cfg.model.dtype == dcfg.model.dtype == dtype  # the saved config.yaml holds it too
    with pytest.raises(ConfigError, match="model.dtype"):
        load_config(["model.dtype=fp8"])


@pytest.mark.parametrize("each,final,expected", [(False, True, {"M3_vs_M1"}), (True, False, {"M2_vs_M1", "M3_vs_M2"}),
                                                 (True, True, {"M2_vs_M1", "M3_vs_M2", "M3_vs_M1"}),
                                                 (False, False, set())])
def test_head_to_head_stages(each, final, expected, tmp_path):
    from pathlib import Path

    from srlm_nemo.recipes.self_rewarding import recipe_stages
    cfg, _ = load_config([f"eval.h2h_each_iteration={each}", f"eval.h2h_final={final}", f"run.run_dir={tmp_path}"])
    names = {
        s.name.split("/")[-1] for s in recipe_stages(cfg, tmp_path, Path("/base")) if s.name.startswith("eval/h2h")
    }
    assert names == expected


def test_judge_meta_adds_its_stage_and_changes_nothing_the_judge_reads(tmp_path):
    """The meta-judge's keys live in `judge` but only the meta-judge and pairs stages read them:
    switching judge.meta on must not re-run the judge, RM-eval or EFT stages."""
    from pathlib import Path

    from srlm_nemo.recipes.self_rewarding import recipe_stages
    plans = {}
    for meta in (False, True):
        cfg, _ = load_config([f"judge.meta={meta}", "judge.meta_ratio=0.5", f"run.run_dir={tmp_path}"])
        plans[meta] = {s.name: s for s in recipe_stages(cfg, tmp_path, Path("/base"))}
    assert set(plans[True]) - set(plans[False]) == {"iter_2/meta_judge", "iter_3/meta_judge"}
    for name, stage in plans[False].items():
        same = stage.config == plans[True][name].config and stage.inputs == plans[True][name].inputs
        assert same == (not name.endswith("/pairs")), name
    assert plans[True]["iter_2/pairs"].inputs["judge_pairs"] == plans[True]["iter_2/meta_judge"].outputs["judge_pairs"]
    with pytest.raises(ConfigError, match="judge.meta_ratio"):
        load_config(["judge.meta_ratio=-1"])


def test_a_renamed_key_and_a_missing_reference_judge_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"^guard.mode is now run.guard"):
        load_config(["guard.mode=stop"])
    p = srlm("plan", f"guard.reference_judge={tmp_path / 'nope'}", check=False)
    assert p.returncode != 0 and f"guard.reference_judge='{tmp_path / 'nope'}': no HF checkpoint there" in p.stderr
