"""DPO with a soft label per pair (pairs.strategy=cream), on TRL's DPOTrainer.

Each row's `weight` C is the probability given to chosen > rejected; the loss is CREAM's
    C * -log sigmoid(beta * margin) + (1 - C) * -log sigmoid(-beta * margin),
margin = (log pi(chosen) - log ref(chosen)) - (log pi(rejected) - log ref(rejected)), summed
over completion tokens as TRL does. TRL 1.x has per-batch label smoothing but no per-pair
label, so this trainer computes the loss itself from TRL's collated batch (chosen rows first,
then rejected); everything else (tokenization, collation, schedules, checkpoints) is TRL's.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from trl import DPOTrainer


def soft_dpo_loss(margin: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Per pair; `margin` already scaled by beta. weight 1 = DPO's loss, 0 = the pair swapped."""
    return -weight * F.logsigmoid(margin) - (1 - weight) * F.logsigmoid(-margin)


def completion_logps(model, batch) -> torch.Tensor:
    """Summed log-probabilities of each row's completion tokens."""
    ids, mask = batch["input_ids"], batch["completion_mask"][:, 1:]
    logits = model(input_ids=ids, attention_mask=batch["attention_mask"], use_cache=False).logits[:, :-1]
    token_logps = torch.gather(logits.float().log_softmax(-1), 2, ids[:, 1:, None]).squeeze(2)
    return (token_logps * mask).sum(1)


class WeightedDPOTrainer(DPOTrainer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        collate = self.data_collator

        def with_weights(examples):  # TRL's collator drops columns it does not know
            weights = torch.tensor([float(e.pop("weight")) for e in examples])
            return {**collate(examples), "weight": weights}
        self.data_collator = with_weights

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        if "weight" not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, "weight"]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        weight = inputs.pop("weight")
        policy = completion_logps(model, inputs)
        with torch.no_grad():
            ref = completion_logps(self.ref_model, inputs)
        chosen, rejected = (policy - ref).chunk(2)  # the batch is [chosen rows, rejected rows]
        margin = self.beta * (chosen - rejected)
        loss = soft_dpo_loss(margin, weight.to(margin.device)).mean()
        mode = "train" if model.training else "eval"
        for key, value in (("rewards/margins", margin), ("rewards/accuracies", (margin > 0).float()),
                           ("rewards/chosen", self.beta * chosen), ("rewards/rejected", self.beta * rejected),
                           ("label_weight", weight)):
            self._metrics[mode][key].append(value.detach().mean().item())
        return (loss, None) if return_outputs else loss
