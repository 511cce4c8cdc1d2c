"""NeMo-Aligner on Megatron: the commands that convert, train and export, as job steps.

* Job steps: `srun` prefixes (Pyxis flags only with a container); the data they train on is
  written by data.py, the checks of a converted model are checks.py.
* Conversion: HF -> .nemo with NeMo's Llama converter. Its `--llama31` is declared
  `type=bool, default=True` (NeMo v2.0.0 to v2.2.0): left out, it switches Llama 3.1 RoPE
  frequency scaling on (`scale_positional_embedding`), and so does any non-empty value, "False"
  included (`bool("False")` is True). Only an empty value turns it off, so we pass `--llama31 ''`.
  The written config is then verified (no RoPE scaling, the precision asked for, hidden size,
  layers, heads, vocabulary). .nemo -> HF after training, since generation (vLLM) serves HF
  checkpoints.
* Training: `train_gpt_sft.py` / `train_gpt_dpo.py` with a Hydra override for every knob; the
  layout keys are `++model.*` overrides on the .nemo's own config. DPO's script runs under
  `python -m srlm_nemo.backends.nemo_aligner.run_aligner_dpo`, which puts the model in eval mode for the
  reference log-probs (NeMo-Aligner 0.7.0 computes them in training mode, with dropout).

Nothing here needs a GPU to run; the commands it renders do (they are not run on CPU machines).
"""
from __future__ import annotations

import shlex

from ...config import SELECTING
from .checkpoints import NEMO_NAME, final_nemo, work_dir
from .data import SOFT_LABEL_OVERRIDES


# The converter writes FP16 instead when it sees no CUDA device (with only a warning), so its step
# asks for one GPU (plan.training_commands) and verify checks the written precision.
CONVERT_PRECISION = "bf16"


def convert_hf_to_nemo(cluster, hf_dir: str, nemo_path: str) -> list[str]:
    return ["python", f"{cluster.nemo_dir}/scripts/checkpoint_converters/convert_llama_hf_to_nemo.py",
            "--input_name_or_path", hf_dir, "--output_path", nemo_path, "--precision", CONVERT_PRECISION,
            # argparse's bool(""): the only value that turns Llama 3.1 RoPE scaling off (see the docstring)
            "--llama31", ""]


def convert_nemo_to_hf(cluster, nemo_path: str, base_hf: str, out_dir: str, params_b: float) -> list[list[str]]:
    # The converter loads the whole model (TP 1, PP 1) on one GPU unless told --cpu-only: a 70B
    # model's 140 GB of bf16 weights do not fit an 80 GB H100, so such models convert in host memory.
    cpu_only = ["--cpu-only"] if 2 * params_b * 1.15 > cluster.gpu_memory_gb else []
    # The converter also torch.save()s the whole state dict to --output_path (a pickle): it goes
    # next to the .nemo and is removed; the HF folder gets save_pretrained's safetensors only.
    scratch = f"{nemo_path}.state_dict.bin"
    # The converter's template: the base with its embeddings untied (untied_base.py says why)
    template = f"{nemo_path}.hf_template"
    return [["python", "-m", "srlm_nemo.backends.nemo_aligner.untied_base", base_hf, template],
            ["python", f"{cluster.nemo_dir}/scripts/checkpoint_converters/convert_llama_nemo_to_hf.py",
             "--input_name_or_path", nemo_path, "--output_path", scratch,
             "--hf_input_path", template, "--hf_output_path", out_dir, "--precision", "bf16", *cpu_only],
            # tokenizer and chat template travel with the weights (vLLM needs them)
            ["bash", "-c", f"rm -rf {shlex.quote(scratch)} {shlex.quote(template)}; "
                           f"cp {shlex.quote(base_hf)}/tokenizer* {shlex.quote(base_hf)}/special_tokens_map.json "
                           f"{shlex.quote(out_dir)}/ 2>/dev/null; cp {shlex.quote(base_hf)}/chat_template.jinja "
                           f"{shlex.quote(out_dir)}/ 2>/dev/null; true"]]


def export_checkpoint(cluster, s, ckpt_dir: str, name: str, nemo_out: str, base_hf: str, out_dir: str,
                      params_b: float) -> list[list[str]]:
    """A checkpoint saved during training (Megatron-sharded .ckpt) -> .nemo -> HF, for the paper's
    checkpoint selection. NeMo's megatron_ckpt_to_nemo.py runs on TP x PP ranks, the layout the
    checkpoint was saved in; it loads the DPO checkpoint as a plain MegatronGPTModel (NeMo-Aligner
    0.7 keeps the reference policy out of the checkpoint, so the saved keys are the GPT's).
    Read against NeMo v2.1.0's script; never run here (needs GPUs and NeMo)."""
    p = s.parallel
    return [["python", f"{cluster.nemo_dir}/examples/nlp/language_modeling/megatron_ckpt_to_nemo.py",
             "--checkpoint_folder", ckpt_dir, "--checkpoint_name", name, "--nemo_file_path", nemo_out,
             "--gpus_per_node", str(min(cluster.gpus_per_node, p.tensor_parallel * p.pipeline_parallel)),
             "--tensor_model_parallel_size", str(p.tensor_parallel),
             "--pipeline_model_parallel_size", str(p.pipeline_parallel), "--model_type", "gpt",
             # the script's default is 16-mixed (fp16); NeMo-Aligner's configs train in bf16
             "--precision", "bf16-mixed"],
            *convert_nemo_to_hf(cluster, nemo_out, base_hf, out_dir, params_b)]


def _layout_overrides(p, seq_len: int) -> list[str]:
    o = [f"++model.tensor_model_parallel_size={p.tensor_parallel}",
         f"++model.pipeline_model_parallel_size={p.pipeline_parallel}",
         f"++model.virtual_pipeline_model_parallel_size={'null' if p.virtual_pipeline is None else p.virtual_pipeline}",
         f"++model.sequence_parallel={p.sequence_parallel}",
         f"++model.encoder_seq_length={seq_len}",
         f"++model.transformer_engine={p.transformer_engine}",
         f"++model.fp8={p.fp8}"]
    if p.activation_checkpointing:
        o += [f"++model.activations_checkpoint_granularity={p.activation_checkpointing}"]
        if p.activation_checkpointing == "full":
            o += ["++model.activations_checkpoint_method=uniform", "++model.activations_checkpoint_num_layers=1"]
    if p.fp8:
        o += [f"++model.fp8_hybrid={p.fp8_hybrid}", f"++model.fp8_amax_history_len={p.fp8_amax_history_len}",
              f"++model.fp8_amax_compute_algo={p.fp8_amax_compute_algo}"]
    return o


def _optim(s) -> list[str]:
    # The paper's schedules: cosine from lr to min_lr, no constant phase.
    return [
        f"model.optim.lr={s.learning_rate}",
        "model.optim.sched.name=CosineAnnealing",
        f"model.optim.sched.warmup_steps={s.warmup_steps}",
        "model.optim.sched.constant_steps=0",
        f"model.optim.sched.min_lr={s.min_learning_rate}",
        f"model.optim.weight_decay={getattr(s, 'weight_decay', 0.0)}",
        # `++`: gpt_dpo.yaml has no dropout keys, and Hydra refuses a plain override of a missing key
        f"++model.hidden_dropout={s.dropout}",
        f"++model.attention_dropout={s.dropout}",
        f"++model.ffn_dropout={s.dropout}",
    ]


# DPO runs NeMo-Aligner's script through this module, which computes the reference log-probs in
# eval mode (with dropout on, NeMo-Aligner computes them with dropout; see its docstring).
DPO_LAUNCHER = ("-m", "srlm_nemo.backends.nemo_aligner.run_aligner_dpo")


def _trainer(cluster, s, algo: str) -> list[str]:
    # algo: "sft" | "dpo", the trainer sub-section of NeMo-Aligner's config
    return [
        "python",
        *(DPO_LAUNCHER if algo == "dpo" else ()),
        f"{cluster.nemo_aligner_dir}/examples/nlp/gpt/train_gpt_{algo}.py",
        f"trainer.num_nodes={s.parallel.nodes}",
        f"trainer.devices={cluster.gpus_per_node}",
        f"trainer.{algo}.max_epochs={int(s.epochs) if s.max_steps < 0 else 1}",
        f"trainer.{algo}.max_steps={s.max_steps}",
        f"trainer.{algo}.save_interval={s.save_steps}",
        f"trainer.{algo}.val_check_interval={s.save_steps}",
    ]


def _sft_split(split: str, path: str, s) -> list[str]:
    k = f"model.data.{split}"
    # Both splits explicitly: left alone, validation_ds keeps the example config's
    # "{input} {output}" template and add_eos=True, which would not match the training data.
    return [f"{k}.file_path={path}", f"{k}.global_batch_size={s.global_batch_size}",
            f"{k}.micro_batch_size={s.micro_batch_size}", f"{k}.max_seq_length={s.max_seq_len}",
            f"{k}.label_key=output", f"{k}.truncation_field=input",
            # Hydra needs the quotes: an unquoted { starts a dict
            f'{k}.prompt_template="{{input}}{{output}}"', f"{k}.add_eos=False", f"{k}.add_bos=False"]


def _exp_manager(out_dir: str) -> list[str]:
    return [f"exp_manager.explicit_log_dir={out_dir}", f"exp_manager.name={NEMO_NAME}",
            "exp_manager.checkpoint_callback_params.save_nemo_on_train_end=True"]


def train_sft_command(cluster, s, *, nemo_in: str, train: str, val: str, out_dir: str) -> list[str]:
    return [*_trainer(cluster, s, "sft"),
            f"model.restore_from_path={nemo_in}", *_sft_split("train_ds", train, s),
            *_sft_split("validation_ds", val, s),
            f"model.seed={s.seed}", *_exp_manager(out_dir),
            *_optim(s), *_layout_overrides(s.parallel, s.max_seq_len)]


def train_dpo_command(cluster, s, *, nemo_in: str, train: str, val: str, out_dir: str,
                      soft_labels: bool = False) -> list[str]:
    return [*_trainer(cluster, s, "dpo"), *(SOFT_LABEL_OVERRIDES if soft_labels else ()),
            f"pretrained_checkpoint.restore_from_path={nemo_in}",
            f"model.data.data_prefix={{train:[{train}],validation:[{val}],test:[{val}]}}",
            f"model.data.seq_length={s.max_seq_len}",
            f"model.global_batch_size={s.global_batch_size}", f"model.micro_batch_size={s.micro_batch_size}",
            f"model.dpo.ref_policy_kl_penalty={s.beta}",  # the paper's beta
            f"model.seed={s.seed}", *_exp_manager(out_dir),
            # The paper's selection judges every saved checkpoint; gpt_dpo.yaml keeps only the 3
            # with the lowest validation loss and deletes the rest.
            *(["exp_manager.checkpoint_callback_params.save_top_k=-1"] if s.select in SELECTING else []),
            *_optim(s), *_layout_overrides(s.parallel, s.max_seq_len)]


def render(cmd: list[str]) -> str:
    return shlex.join(cmd)


def srun_prefix(cluster, nodes: int, image: str | None, tasks_per_node: int, extra: list[str] = ()) -> list[str]:
    """Pyxis flags appear only with a container: without Pyxis, srun rejects them. --ntasks is
    explicit: srun otherwise takes SLURM_NTASKS from the batch script's environment (the job's
    tasks), which caps the step below --nodes x --ntasks-per-node (seen on Slurm 22.05)."""
    cmd = ["srun", f"--nodes={nodes}", f"--ntasks={nodes * tasks_per_node}", f"--ntasks-per-node={tasks_per_node}",
           *extra]
    if image:
        cmd += [f"--container-image={image}", f"--container-workdir={cluster.workdir}", "--no-container-mount-home"]
        if cluster.mounts:
            cmd += [f"--container-mounts={','.join(cluster.mounts)}"]
    return cmd


def training_commands(cfg, stage_dir: str, sec: str, hf_in: str, out_hf: str, *, section,
                      soft_labels: bool = False) -> list[list[str]]:
    """HF -> .nemo, its check, training on all the stage's GPUs, .nemo -> HF (+ tokenizer).
    `sec`: sft | dpo; `section`: that stage's config section (the stage's own view of it);
    `soft_labels`: DPO pairs carry weights (pairs.strategy=cream)."""
    c, s, work = cfg.cluster, section, work_dir(stage_dir)
    one = srun_prefix(c, 1, c.training_image, 1)
    many = srun_prefix(c, s.parallel.nodes, c.training_image, c.gpus_per_node)
    files = dict(nemo_in=f"{work}/input.nemo", train=f"{work}/train.jsonl", val=f"{work}/val.jsonl",
                 out_dir=f"{work}/results")
    train = train_sft_command(c, s, **files) if sec == "sft" else \
        train_dpo_command(c, s, **files, soft_labels=soft_labels)
    # NeMo's converter runs on CPU but writes BF16 only when it sees a CUDA device (FP16 otherwise)
    convert_on = srun_prefix(c, 1, c.training_image, 1, ["--gres=gpu:1"] if c.gpus_per_node else [])
    return [convert_on + convert_hf_to_nemo(c, hf_in, f"{work}/input.nemo"),
            one + ["python", "-m", "srlm_nemo.backends.nemo_aligner.checks", f"{work}/input.nemo", hf_in,
                   "--precision", CONVERT_PRECISION],
            many + train,
            *[one + x for x in convert_nemo_to_hf(c, final_nemo(f"{work}/results"), hf_in, out_hf,
                                                  cfg.model.arch.params_b)]]
