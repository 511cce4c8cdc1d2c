"""NeMo-Aligner on Megatron: data in its formats and the commands that train on it.

* SFT data: NeMo-Aligner's input/output JSONL (`prompt_template="{input}{output}"`, no EOS added:
  `output` already ends with the chat template's end of turn).
* DPO data: `{"prompt", "chosen_response", "rejected_response"}` JSONL, the prompt rendered with
  the checkpoint's own chat template, so prompt tokens are a prefix of prompt+response tokens.
* Conversion: HF -> .nemo with NeMo's Llama converter. Its `--llama31` is declared
  `type=bool, default=True` (NeMo v2.0.0 to v2.2.0): left out, it switches Llama 3.1 RoPE
  frequency scaling on (`scale_positional_embedding`), and so does any non-empty value, "False"
  included (`bool("False")` is True). Only an empty value turns it off, so we pass `--llama31 ''`.
  The written config is then verified (no RoPE scaling, the precision asked for, hidden size,
  layers, heads, vocabulary). .nemo -> HF after training, since generation (vLLM) serves HF
  checkpoints.
* Training: `train_gpt_sft.py` / `train_gpt_dpo.py` with a Hydra override for every knob; the
  layout keys are `++model.*` overrides on the .nemo's own config. DPO's script runs under
  `python -m srlm_nemo.cluster.run_aligner_dpo`, which puts the model in eval mode for the
  reference log-probs (NeMo-Aligner 0.7.0 computes them in training mode, with dropout).

Nothing here needs a GPU to run; the commands it renders do (they are not run on CPU machines).
"""
from __future__ import annotations

import json
import math
import shlex
import tarfile
from pathlib import Path

import yaml

from ..artifacts import write_jsonl


class DataTooSmall(ValueError):
    pass


def _render_pair(tok, prompt_msgs: list[dict], response: str) -> tuple[str, str]:
    prompt = tok.apply_chat_template(prompt_msgs, tokenize=False, add_generation_prompt=True)
    full = tok.apply_chat_template(prompt_msgs + [{"role": "assistant", "content": response}], tokenize=False)
    if not full.startswith(prompt):
        raise ValueError("the chat template renders the prompt differently inside a full conversation; "
                         "NeMo-Aligner needs the prompt as an exact prefix")
    return prompt, full[len(prompt):]


def _check_size(path: Path, n: int, global_batch: int, key: str) -> None:
    # NeMo-Aligner fails obscurely when a data file has fewer samples than one global batch.
    if n < global_batch:
        raise DataTooSmall(f"{path}: {n} samples, fewer than {key}={global_batch}; NeMo-Aligner cannot train on it")


def write_sft_data(tok, rows: list[dict], path: Path, global_batch: int) -> int:
    """rows: TRL prompt-completion records (as the SFT stage builds them)."""
    out = []
    for r in rows:
        # NeMo's GPTSFTDataset strips spaces at both ends of every field: strip them here so the
        # file says exactly what is trained (tests/test_nemo_aligner_contract.py found this).
        inp, outp = _render_pair(tok, r["prompt"], r["completion"][0]["content"].strip(" "))
        out.append({"input": inp, "output": outp})
    _check_size(path, len(out), global_batch, "sft.global_batch_size")
    return write_jsonl(path, out)


def write_dpo_data(tok, pairs: list[dict], path: Path, global_batch: int) -> int:
    """pairs: TRL conversational prompt/chosen/rejected records (pairs.jsonl)."""
    out = []
    for p in pairs:
        prompt, chosen = _render_pair(tok, p["prompt"], p["chosen"][0]["content"])
        prompt2, rejected = _render_pair(tok, p["prompt"], p["rejected"][0]["content"])
        assert prompt == prompt2
        row = {"prompt": prompt, "chosen_response": chosen, "rejected_response": rejected}
        if "weight" in p:
            row.update(soft_label_rewards(p["weight"]))
        out.append(row)
    _check_size(path, len(out), global_batch, "dpo.global_batch_size")
    return write_jsonl(path, out)


# A soft label C (pairs.strategy=cream) as NeMo-Aligner's RPO rewards. With preference_loss=
# rpo_bwd_kl its loss per pair is a*(log a - log b) + (1-a)*(log(1-a) - log(1-b)), where
# a = sigmoid(gt_reward_scale * (chosen_reward - rejected_reward)) and b = sigmoid(beta * margin)
# (megatron_gpt_dpo_model.py, v0.7.0): with a = C that is CREAM's C*-log b + (1-C)*-log(1-b)
# plus a constant in the weights, so the same gradients.
SOFT_LABEL_OVERRIDES = ("model.dpo.preference_loss=rpo_bwd_kl", "model.dpo.gt_reward_scale=1.0")


def soft_label_rewards(c: float) -> dict:
    c = min(max(c, 1e-6), 1 - 1e-6)  # C = 1 would be an infinite logit; 1e-6 changes the loss by less
    return {"chosen_reward": math.log(c / (1 - c)), "rejected_reward": 0.0}


# --- commands ---------------------------------------------------------------------------------

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
    return [["python", "-m", "srlm_nemo.cluster.untied_base", base_hf, template],
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


def saved_checkpoints(ckpt_dir: Path) -> list[str]:
    """The checkpoints a NeMo-Aligner run saved, in step order, without the `-last` copy.
    Distributed checkpoints (the default for Megatron-core models) are folders whose names drop
    the `.ckpt` of the name NeMo formats (nlp_overrides.NLPDDPStrategy.save_checkpoint); legacy
    ones are `.ckpt` files, inside `mp_rank_*` / `tp_rank_*_pp_rank_*` folders when model-parallel.
    megatron_ckpt_to_nemo.py takes either name as --checkpoint_name."""
    names = set()
    for p in Path(ckpt_dir).iterdir() if Path(ckpt_dir).is_dir() else ():
        if p.name.startswith(("mp_rank_", "tp_rank_")) and p.is_dir():
            names.update(f.name for f in p.glob("*.ckpt"))
        elif p.is_dir() or p.suffix == ".ckpt":
            names.add(p.name)
    return sorted((n for n in names if checkpoint_step(n) is not None and "-last" not in n), key=checkpoint_step)


def checkpoint_step(name: str) -> int | None:
    """`megatron_gpt--validation_loss=0.61-step=200-consumed_samples=3200.0.ckpt` -> 200."""
    import re
    m = re.search(r"step=(\d+)", name)
    return int(m.group(1)) if m else None


def checkpoint_label(name: str) -> str:
    """The HF export's directory name: `step-200` (or the file name without `.ckpt`)."""
    step = checkpoint_step(name)
    return f"step-{step}" if step is not None else name.removesuffix(".ckpt")


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
    return [f"model.optim.lr={s.learning_rate}", "model.optim.sched.name=CosineAnnealing",
            f"model.optim.sched.warmup_steps={s.warmup_steps}", "model.optim.sched.constant_steps=0",
            f"model.optim.sched.min_lr={s.min_learning_rate}", f"model.optim.weight_decay={getattr(s, 'weight_decay', 0.0)}",
            # `++`: gpt_dpo.yaml has no dropout keys, and Hydra refuses a plain override of a missing key
            f"++model.hidden_dropout={s.dropout}", f"++model.attention_dropout={s.dropout}", f"++model.ffn_dropout={s.dropout}"]


# DPO runs NeMo-Aligner's script through this module, which computes the reference log-probs in
# eval mode (with dropout on, NeMo-Aligner computes them with dropout; see its docstring).
DPO_LAUNCHER = ("-m", "srlm_nemo.cluster.run_aligner_dpo")


def _trainer(cluster, s, algo: str) -> list[str]:
    # algo: "sft" | "dpo", the trainer sub-section of NeMo-Aligner's config
    return ["python", *(DPO_LAUNCHER if algo == "dpo" else ()),
            f"{cluster.nemo_aligner_dir}/examples/nlp/gpt/train_gpt_{algo}.py",
            f"trainer.num_nodes={s.parallel.nodes}", f"trainer.devices={cluster.gpus_per_node}",
            f"trainer.{algo}.max_epochs={int(s.epochs) if s.max_steps < 0 else 1}", f"trainer.{algo}.max_steps={s.max_steps}",
            f"trainer.{algo}.save_interval={s.save_steps}", f"trainer.{algo}.val_check_interval={s.save_steps}"]


def _sft_split(split: str, path: str, s) -> list[str]:
    k = f"model.data.{split}"
    # Both splits explicitly: left alone, validation_ds keeps the example config's
    # "{input} {output}" template and add_eos=True, which would not match the training data.
    return [f"{k}.file_path={path}", f"{k}.global_batch_size={s.global_batch_size}",
            f"{k}.micro_batch_size={s.micro_batch_size}", f"{k}.max_seq_length={s.max_seq_len}",
            f"{k}.label_key=output", f"{k}.truncation_field=input",
            # Hydra needs the quotes: an unquoted { starts a dict
            f'{k}.prompt_template="{{input}}{{output}}"', f"{k}.add_eos=False", f"{k}.add_bos=False"]


def work_dir(stage_dir: str | Path) -> Path:
    """Where a stage's NeMo files live: data, input.nemo, results/ (NeMo's log dir). Under the
    stage's work/, so a stage whose inputs or config changed starts clean, while a resumed one
    (requeue, resubmission) finds NeMo's checkpoints and NeMo resumes from them."""
    return Path(stage_dir) / "work" / "nemo"


# The final .nemo is <out_dir>/checkpoints/<exp_manager.name>.nemo; the example configs name it
# differently (megatron_gpt_sft / megatron_gpt), so both commands set it.
NEMO_NAME = "megatron_gpt"


def final_nemo(out_dir: str) -> str:
    return f"{out_dir}/checkpoints/{NEMO_NAME}.nemo"


def _exp_manager(out_dir: str) -> list[str]:
    return [f"exp_manager.explicit_log_dir={out_dir}", f"exp_manager.name={NEMO_NAME}",
            "exp_manager.checkpoint_callback_params.save_nemo_on_train_end=True"]


def train_sft_command(cluster, s, nemo_in: str, train: str, val: str, out_dir: str) -> list[str]:
    return [*_trainer(cluster, s, "sft"),
            f"model.restore_from_path={nemo_in}", *_sft_split("train_ds", train, s),
            *_sft_split("validation_ds", val, s),
            f"model.seed={s.seed}", *_exp_manager(out_dir),
            *_optim(s), *_layout_overrides(s.parallel, s.max_seq_len)]


def train_dpo_command(cluster, s, nemo_in: str, train: str, val: str, out_dir: str,
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
            *(["exp_manager.checkpoint_callback_params.save_top_k=-1"] if s.select == "judge" else []),
            *_optim(s), *_layout_overrides(s.parallel, s.max_seq_len)]


def render(cmd: list[str]) -> str:
    return shlex.join(cmd)


# --- checking a converted model ---------------------------------------------------------------

class ConversionError(RuntimeError):
    pass


def read_nemo_config(nemo_path: str | Path) -> tuple[dict, list[str]]:
    with tarfile.open(nemo_path) as tar:
        names = tar.getnames()
        member = next((n for n in names if n.endswith("model_config.yaml")), None)
        if member is None:
            raise ConversionError(f"{nemo_path}: no model_config.yaml inside")
        return yaml.safe_load(tar.extractfile(member).read()), names


def verify_converted(nemo_path: str | Path, hf_config: dict, precision: str | None = None) -> dict:
    """Fails loudly when the .nemo does not describe the HF model it came from (or, given
    `precision`, was not written in it)."""
    cfg, names = read_nemo_config(nemo_path)
    problems = []
    if cfg.get("scale_positional_embedding"):
        problems.append("scale_positional_embedding is true: Llama 3.1 RoPE frequency scaling is switched on "
                        "(NeMo's convert_llama_hf_to_nemo.py does this unless given `--llama31 ''`)")
    if (cfg.get("seq_len_interpolation_factor") or cfg.get("rope_scaling")) and not hf_config.get("rope_scaling"):
        problems.append("RoPE scaling is switched on (seq_len_interpolation_factor / rope_scaling) but the HF "
                        "model has none")
    written = str(cfg.get("precision"))
    if precision is not None and written != precision:
        why = (" (NeMo's converter writes FP16 when it sees no CUDA device: run the conversion step with a GPU)"
               if precision.startswith("bf16") and written.startswith("16") else "")
        problems.append(f"precision={written} but {precision} was asked for{why}")
    for nemo_key, hf_key in (("hidden_size", "hidden_size"), ("num_layers", "num_hidden_layers"),
                             ("num_attention_heads", "num_attention_heads")):
        if cfg.get(nemo_key) != hf_config.get(hf_key):
            problems.append(f"{nemo_key}={cfg.get(nemo_key)} but the HF config has {hf_key}={hf_config.get(hf_key)}")
    vocab = cfg.get("vocab_size") or (cfg.get("tokenizer") or {}).get("vocab_size")
    if vocab is not None and vocab != hf_config.get("vocab_size"):
        problems.append(f"vocab_size={vocab} but the HF config has {hf_config.get('vocab_size')}")
    # NeMo v2.1.0's converter, given an HF folder without tokenizer.model, names a Llama 3 hub
    # tokenizer for any 32- or 80-layer model: a Llama 2 would then train on the wrong vocabulary.
    tok_type = str((cfg.get("tokenizer") or {}).get("type") or "")
    if "Llama-3" in tok_type and (hf_config.get("vocab_size") or 0) < 128000:
        problems.append(f"tokenizer.type={tok_type} but the HF model has a {hf_config.get('vocab_size')}-token "
                        "vocabulary (its folder has no tokenizer.model?)")
    if problems:
        raise ConversionError(f"{nemo_path}: " + "; ".join(problems))
    return {"checked": ["rope_scaling", "hidden_size", "num_layers", "num_attention_heads", "tokenizer"]
            + (["vocab_size"] if vocab is not None else []) + (["precision"] if precision is not None else []),
            "files": len(names)}


def hf_config(hf_dir: str | Path) -> dict:
    return json.loads((Path(hf_dir) / "config.json").read_text())
