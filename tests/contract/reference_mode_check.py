"""Runs inside the contract environment (NeMo-Aligner 0.7.0 on CPU), not in .venv: NeMo-Aligner's
own MegatronGPTDPOModel.get_ref_policy_logprobs (with its cpu_weight_swap of the reference
weights), called on a small stand-in model with dropout, before and after
srlm_nemo.backends.nemo_aligner.run_aligner_dpo wraps it. Writes what it saw as JSON.

  PYTHONPATH=REPO python reference_mode_check.py OUT.json DUMP.json
"""
import json
import os
import sys

import torch

# NeMo-Aligner's state-dict copy ends with torch.cuda.synchronize(), which a CPU build of torch
# refuses; there is nothing to wait for on CPU.
torch.cuda.synchronize = lambda *a, **k: None

from nemo_aligner.models.nlp.gpt.megatron_gpt_dpo_model import MegatronGPTDPOModel  # noqa: E402

from srlm_nemo.backends.nemo_aligner.run_aligner_dpo import reference_in_eval_mode  # noqa: E402


class StandIn(torch.nn.Module):
    """What get_ref_policy_logprobs touches of the real model: .model (the GPT), the reference
    weights, the PEFT and O2 flags, and get_logprob_batch (here: a forward with dropout 0.5)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 4))
        self.ref_policy_state_dict = {k: v.clone() for k, v in self.model.state_dict().items()}
        self.use_peft, self.megatron_amp_O2 = False, False
        self.seen_training = []

    def get_logprob_batch(self, batch):
        self.seen_training.append(any(m.training for m in self.modules()))
        return torch.log_softmax(self.model(batch["x"]), dim=-1)


def calls(model, batch, n=2):
    out = [MegatronGPTDPOModel.get_ref_policy_logprobs(model, batch) for _ in range(n)]
    return {"training_inside": model.seen_training[-n:], "training_after": model.training,
            "repeatable": bool(torch.equal(out[0], out[1])),
            "equals_eval_forward": bool(torch.allclose(out[0], _eval_forward(model, batch)))}


def _eval_forward(model, batch):
    was = model.training
    model.eval()
    with torch.no_grad():
        out = torch.log_softmax(model.model(batch["x"]), dim=-1)
    model.train(was)
    return out


def main(out_path, dump_path):
    torch.manual_seed(1)
    batch = {"x": torch.randn(4, 8), "chosen": torch.tensor([[5, 6, 7], [5, 6, 8]]),
             "rejected": torch.tensor([[5, 9, 9], [5, 9, 1]]),
             "chosen_labels": torch.tensor([[-100, 7, 2], [-100, 8, 2]]),
             "rejected_labels": torch.tensor([[-100, 9, 2], [-100, 1, 2]])}
    model = StandIn().train()
    result = {"aligner_as_released": calls(model, batch)}
    os.environ["SRLM_DUMP_REFERENCE"] = dump_path
    reference_in_eval_mode(MegatronGPTDPOModel)
    reference_in_eval_mode(MegatronGPTDPOModel)  # a second call must not wrap twice
    result["wrapped"] = calls(model, batch)
    result["submodule_modes_after"] = [m.training for m in model.modules()]
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
