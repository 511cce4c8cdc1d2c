"""Runs inside the contract environment (`make contract-env`: nemo-aligner 0.7.0 + nemo-toolkit 2.1.0
on CPU), not in .venv. Reads our NeMo-Aligner data files through NeMo-Aligner's / NeMo's own
dataset classes, as `train_gpt_dpo.py` / `train_gpt_sft.py` build them, and writes what they
produce as JSON (NeMo logs to stdout) for the test in .venv to check. Stops before collate (it calls `.cuda()`).

  python nemo_aligner_check.py SPEC.json OUT.json   SPEC: {"tokenizer", "dpo", "sft", "overrides_sft", "overrides_dpo"}
"""
import json
import sys

import numpy as np
from omegaconf import OmegaConf


# The data defaults of NeMo-Aligner v0.7.0's examples/nlp/gpt/conf/gpt_sft.yaml and gpt_dpo.yaml
# (the keys our rendered commands do not set fall back to these when the scripts run).
SFT_DS_DEFAULTS = dict(global_batch_size=128, micro_batch_size=1, shuffle=True, memmap_workers=None,
                       max_seq_length=4096, min_seq_length=1, drop_last=True, label_key="output",
                       add_eos=True, add_sep=False, add_bos=False, truncation_field="input",
                       index_mapping_dir=None, prompt_template="{input} {output}", hf_dataset=False,
                       truncation_method="right")
DPO_DATA_DEFAULTS = dict(data_impl="jsonl", splits_string=None, seq_length=4096, skip_warmup=True,
                         num_workers=0, reset_position_ids=False, reset_attention_mask=False,
                         eod_mask_loss=False, index_mapping_dir=None, data_prefix=None,
                         default_chosen_reward=1.0, default_rejected_reward=0.0)


def model_cfg(overrides: list[str]):
    base = OmegaConf.create({"model": {"data": {"train_ds": dict(SFT_DS_DEFAULTS),
                                                "validation_ds": dict(SFT_DS_DEFAULTS), **DPO_DATA_DEFAULTS}}})
    # our rendered overrides, parsed by Hydra's own override grammar as the training scripts' @hydra.main does
    from hydra.core.override_parser.overrides_parser import OverridesParser
    for o in OverridesParser.create().parse_overrides([o for o in overrides if o.lstrip("+").startswith("model.data.")]):
        OmegaConf.update(base, o.key_or_group, o.value(), force_add=True)
    return base.model


def main(spec_path: str, out_path: str) -> None:
    from nemo.collections.common.tokenizers.huggingface.auto_tokenizer import AutoTokenizer
    from nemo_aligner.data.nlp.builders import build_sft_dataset, build_train_valid_test_dpo_datasets

    spec = json.load(open(spec_path))
    tok = AutoTokenizer(spec["tokenizer"], use_fast=True)
    out = {"eos_id": tok.eos_id}

    # DPO: the builder as train_gpt_dpo.py calls it (data_prefix is a dict of splits)
    cfg = model_cfg(spec["overrides_dpo"])
    n = sum(1 for _ in open(spec["dpo"]))
    train, val, _ = build_train_valid_test_dpo_datasets(
        cfg=cfg, data_prefix=cfg.data.data_prefix, data_impl=cfg.data.data_impl,
        splits_string=cfg.data.splits_string, train_valid_test_num_samples=[n, n, n],
        seq_length=cfg.data.seq_length, seed=1234, tokenizer=tok)
    out["dpo"] = []
    for i in range(len(train)):
        item = train[i]  # DPOModelDataset.__getitem__ asserts the prompt tokens are a prefix
        out["dpo"].append({k: (item[k].tolist() if hasattr(item[k], "tolist") else item[k])
                           for k in ("chosen", "rejected", "chosen_labels", "rejected_labels",
                                     "chosen_length", "rejected_length", "ignore_example",
                                     "chosen_reward", "rejected_reward")})
    out["dpo_val_len"] = len(val)

    # SFT: build_sft_dataset as train_gpt_sft.py calls it for the train and validation splits
    cfg = model_cfg(spec["overrides_sft"])
    out["sft"] = {}
    for split in ("train_ds", "validation_ds"):
        ds_cfg = cfg.data[split]
        ds_cfg.file_path = spec["sft"]
        ds = build_sft_dataset(ds_cfg, tok, num_samples=None, answer_only_loss=True, is_chat=False,
                               model_cfg=None)
        rows = []
        for i in range(len(ds)):
            ex = ds[i]
            rows.append({"input_ids": list(map(int, ex["input_ids"])),
                         "answer_start_idx": int(ex["answer_start_idx"]),
                         "context_ids": list(map(int, ex["context_ids"])),
                         "answer_ids": list(map(int, ex["answer_ids"]))})
        out["sft"][split] = rows
    with open(out_path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    np.random.seed(0)
    main(sys.argv[1], sys.argv[2])
