"""NeMo-Aligner's data formats, written from our records.

* SFT data: NeMo-Aligner's input/output JSONL (`prompt_template="{input}{output}"`, no EOS added:
  `output` already ends with the chat template's end of turn).
* DPO data: `{"prompt", "chosen_response", "rejected_response"}` JSONL, the prompt rendered with
  the checkpoint's own chat template, so prompt tokens are a prefix of prompt+response tokens;
  CREAM's soft labels as RPO rewards (`soft_label_rewards`).
"""
from __future__ import annotations

import math
from pathlib import Path

from ...artifacts import write_jsonl


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
