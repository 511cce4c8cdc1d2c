"""CREAM's soft-label DPO (pairs.strategy=cream) on both training backends."""
import json
import math

import pytest
import torch

from srlm_nemo.backends.trl_trainer import TRLTrainer
from srlm_nemo.backends.weighted_dpo import soft_dpo_loss
from srlm_nemo.config import DPOConfig, TrainingBackendConfig


def test_soft_loss_is_dpo_at_one_and_the_swapped_pair_at_zero():
    m = torch.tensor([-2.0, -0.3, 0.0, 0.7, 3.0], requires_grad=True)
    assert torch.allclose(soft_dpo_loss(m, torch.ones(5)), -torch.nn.functional.logsigmoid(m))
    assert torch.allclose(soft_dpo_loss(m, torch.zeros(5)), -torch.nn.functional.logsigmoid(-m))
    # d loss / d margin = (1 - C) * sigmoid(m) - C * sigmoid(-m): at m = 0, (1 - 2C) / 2
    c = torch.tensor([0.0, 0.25, 0.5, 0.9, 1.0])
    zero = torch.zeros(5, requires_grad=True)
    soft_dpo_loss(zero, c).sum().backward()
    assert torch.allclose(zero.grad, (1 - 2 * c) / 2)


def _pairs(swap: bool = False, weight=None):
    rows = []
    for i, (q, good, bad) in enumerate([("Name a colour.", "Blue is a colour.", "No."),
                                        ("What is two plus two?", "Two plus two is four.", "Fish."),
                                        ("Say hello.", "Hello there!", "Goodbye forever, I refuse."),
                                        ("Name a fruit.", "An apple is a fruit.", "Rocks.")]):
        chosen, rejected = (bad, good) if swap else (good, bad)
        row = {"prompt": [{"role": "user", "content": q}], "chosen": [{"role": "assistant", "content": chosen}],
               "rejected": [{"role": "assistant", "content": rejected}]}
        if weight is not None:
            row["weight"] = weight
        rows.append(row)
    return rows


def _train(tiny_model, out, rows):
    s = DPOConfig(learning_rate=5e-3, min_learning_rate=5e-3, lr_scheduler="constant", global_batch_size=2,
                  micro_batch_size=2, dropout=0.0, max_steps=3, max_seq_len=64, save_steps=100)
    TRLTrainer(TrainingBackendConfig()).dpo(str(tiny_model), rows, out, s)
    from safetensors.torch import load_file
    return load_file(str(out / "model.safetensors"))


def _distance(a, b):
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


@pytest.mark.slow
def test_weight_zero_trains_like_the_swapped_pair_and_one_like_plain_dpo(tiny_model, tmp_path):
    from safetensors.torch import load_file
    start = load_file(str(tiny_model / "model.safetensors"))
    soft0 = _train(tiny_model, tmp_path / "soft0" / "model", _pairs(weight=0.0))
    swapped = _train(tiny_model, tmp_path / "swapped" / "model", _pairs(swap=True))
    soft1 = _train(tiny_model, tmp_path / "soft1" / "model", _pairs(weight=1.0))
    plain = _train(tiny_model, tmp_path / "plain" / "model", _pairs())
    moved = _distance(start, plain)
    assert moved > 1e-3  # training changed the weights
    # TRL's own DPO loss (the stock trainer, no weights) vs ours: same updates up to numerics
    assert _distance(soft1, plain) < 0.02 * moved
    assert _distance(soft0, swapped) < 0.02 * moved
    assert _distance(soft0, soft1) > 0.5 * moved  # the weight is not ignored
    log = [json.loads(line) for line in open(tmp_path / "soft0" / "work" / "train_log.jsonl")]
    assert log[0]["label_weight"] == 0.0 and math.isclose(log[0]["loss"], math.log(2), rel_tol=1e-3)


def test_nemo_aligner_rows_carry_the_soft_label_as_rpo_rewards():
    from srlm_nemo.backends.nemo_aligner import checkpoints, checks, commands, data  # noqa: F401
    for c in (0.0, 0.3, 0.5, 1.0):
        r = data.soft_label_rewards(c)
        # NeMo-Aligner's rpo_bwd_kl target: sigmoid(gt_reward_scale * (chosen - rejected)), scale 1
        assert math.isclose(1 / (1 + math.exp(-(r["chosen_reward"] - r["rejected_reward"]))), c, abs_tol=2e-6)
    assert set(data.SOFT_LABEL_OVERRIDES) == {"model.dpo.preference_loss=rpo_bwd_kl", "model.dpo.gt_reward_scale=1.0"}
