"""`python -m srlm_nemo.backends.nemo_aligner.run_aligner_dpo TRAIN_GPT_DPO_PY [Hydra overrides]`: NeMo-Aligner
0.7.0's train_gpt_dpo.py, run as its own `__main__`, with one change: the reference policy's
log-probs are computed with the model in eval mode.

Why: NeMo-Aligner computes them in whatever mode the model is in. `augment_dataloader` asks for
them between training steps (training mode) and, in validation, before `validation_step` calls
`set_eval`, so they are always computed in training mode. With dropout above 0 (the paper's DPO
uses 0.1) every reference log-prob then carries its own dropout noise, in training and in
validation. The TRL backend loads its reference model without dropout; with this change both
backends optimise the same objective. With dropout 0 the change makes no numeric difference.

`SRLM_DUMP_REFERENCE=PATH`: the first reference batch this rank computes (tokens, labels,
per-token log-probs) is written there as JSON, for the smoke test's comparison with an HF
forward. Only the training Python imports this module; it needs nothing of srlm's.
"""
from __future__ import annotations

import json
import os
import runpy
import sys

MARK = "_srlm_reference_in_eval_mode"


def _chunks(ptl_model) -> list:
    # Megatron keeps virtual-pipeline chunks in a plain list, which nn.Module does not register
    return ptl_model.model if isinstance(getattr(ptl_model, "model", None), list) else [ptl_model]


def reference_in_eval_mode(cls) -> None:
    """Wraps cls.get_ref_policy_logprobs: every module in eval mode for the call, then each
    module's own mode back (validation calls it while the model is in training mode too)."""
    original = cls.get_ref_policy_logprobs
    if getattr(original, MARK, False):
        return

    def get_ref_policy_logprobs(self, batch):
        chunks = _chunks(self)
        modes = [(m, m.training) for chunk in chunks for m in chunk.modules()]
        for chunk in chunks:
            chunk.eval()
        try:
            logprobs = original(self, batch)
        finally:
            for m, training in modes:
                m.training = training
        _dump_once(batch, logprobs)
        return logprobs

    setattr(get_ref_policy_logprobs, MARK, True)
    cls.get_ref_policy_logprobs = get_ref_policy_logprobs


def _dump_once(batch, logprobs) -> None:
    path = os.environ.get("SRLM_DUMP_REFERENCE")
    if not path or os.path.exists(path) or logprobs is None or "chosen" not in batch:
        return
    import torch
    if torch.distributed.is_initialized() and torch.distributed.get_rank() != 0:
        return
    tokens = torch.cat([batch["chosen"], batch["rejected"]]).tolist()
    labels = torch.cat([batch["chosen_labels"], batch["rejected_labels"]]).tolist()
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump({"tokens": tokens, "labels": labels, "logprobs": logprobs.float().cpu().tolist()}, f)
    os.replace(tmp, path)


def main(argv: list[str]) -> None:
    if not argv or not argv[0].endswith(".py"):
        sys.exit("usage: python -m srlm_nemo.backends.nemo_aligner.run_aligner_dpo TRAIN_GPT_DPO_PY [Hydra overrides]")
    from nemo_aligner.models.nlp.gpt.megatron_gpt_dpo_model import MegatronGPTDPOModel
    reference_in_eval_mode(MegatronGPTDPOModel)
    sys.argv = list(argv)  # Hydra reads its overrides from sys.argv[1:]
    runpy.run_path(argv[0], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
