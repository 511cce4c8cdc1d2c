"""TRL SFTTrainer / DPOTrainer adapter.

SFT uses TRL's conversational prompt-completion format, so the loss covers response tokens
only. DPO passes the reference model (M_t) explicitly and keeps dropout on (the paper's 0.1).
A kill mid-training resumes from the last `checkpoint-*` in the work directory.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from .generation import fallback_chat_template
from .training import TrainingDiverged, TrainResult, first_non_finite_loss

_DROPOUT_KEYS = ("attention_dropout", "hidden_dropout", "dropout", "resid_pdrop", "attn_pdrop", "embd_pdrop")


class TRLTrainer:
    def __init__(self, train_cfg):
        self.cfg = train_cfg
        import torch
        if train_cfg.torch_threads:
            torch.set_num_threads(train_cfg.torch_threads)

    # -- helpers -------------------------------------------------------------------------
    def _load(self, path: str, dropout: float):
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
        conf = AutoConfig.from_pretrained(path)
        original = {k: getattr(conf, k) for k in _DROPOUT_KEYS if hasattr(conf, k)}
        # on CPU, bf16 means autocast over float32 weights (the optimizer's updates at demo
        # learning rates are lost in bf16 weights); on GPU the weights are bf16 themselves
        pure_bf16 = self.cfg.bf16 and not self.cfg.use_cpu
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=torch.bfloat16 if pure_bf16 else torch.float32,
            **{k: dropout for k in original})
        tok = AutoTokenizer.from_pretrained(path)
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        if not tok.chat_template:
            tok.chat_template = fallback_chat_template()
        return model, tok, original

    def _common_args(self, s, work_dir: Path) -> dict:
        accum = s.global_batch_size // s.micro_batch_size
        args = dict(
            output_dir=str(work_dir), per_device_train_batch_size=s.micro_batch_size,
            gradient_accumulation_steps=accum, learning_rate=s.learning_rate,
            num_train_epochs=s.epochs, max_steps=s.max_steps, warmup_steps=s.warmup_steps,
            weight_decay=getattr(s, "weight_decay", 0.0), lr_scheduler_type=s.lr_scheduler,
            save_strategy="steps", save_steps=s.save_steps, logging_steps=1, report_to="none",
            seed=s.seed, data_seed=s.seed, use_cpu=self.cfg.use_cpu, bf16=self.cfg.bf16,
            gradient_checkpointing=self.cfg.gradient_checkpointing, max_length=s.max_seq_len,
            disable_tqdm=False, dataloader_num_workers=0, save_only_model=False,
            train_sampling_strategy="group_by_length" if s.group_by_length else "random")
        if s.lr_scheduler == "cosine_with_min_lr":
            args["lr_scheduler_kwargs"] = {"min_lr": s.min_learning_rate}
        return args

    @staticmethod
    def _check_finite(trainer, model, out_dir: Path) -> None:
        import torch
        bad = first_non_finite_loss(trainer.state.log_history)
        if bad is not None:
            raise TrainingDiverged(f"{out_dir}: training diverged: loss {bad['loss']} at step {bad.get('step')}; "
                                   "nothing saved, the stage is not done (lower the learning rate)")
        names = [n for n, p in model.named_parameters() if not torch.isfinite(p).all()]
        if names:
            raise TrainingDiverged(f"{out_dir}: training left non-finite weights ({names[0]} and "
                                   f"{len(names) - 1} more); nothing saved, the stage is not done")

    def _finish(self, trainer, model, tok, original, work_dir: Path, out_dir: Path) -> TrainResult:
        self._check_finite(trainer, model, out_dir)
        for k, v in original.items():  # the saved checkpoint keeps the base model's dropout
            setattr(model.config, k, v)
        tmp = out_dir.with_name(out_dir.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        trainer.save_model(str(tmp))
        # the Trainer also pickles its arguments there (with this run's paths in them): model
        # folders hold safetensors and JSON only, and their content fingerprint is the model's
        (tmp / "training_args.bin").unlink(missing_ok=True)
        tok.save_pretrained(str(tmp))
        if tok.chat_template and not (tmp / "chat_template.jinja").exists():
            (tmp / "chat_template.jinja").write_text(tok.chat_template)
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp.rename(out_dir)
        ckpts = sorted((p.name for p in work_dir.glob("checkpoint-*")), key=lambda n: int(n.split("-")[1]))
        log = trainer.state.log_history
        (work_dir / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
        return TrainResult(model_dir=str(out_dir), steps=trainer.state.global_step, checkpoints=ckpts,
                           kept="final", log=log)

    @staticmethod
    def _last_checkpoint(work_dir: Path) -> tuple[Path | None, dict | None]:
        """The newest complete checkpoint and its trainer state. The HF Trainer writes
        trainer_state.json last, so a checkpoint without a readable one was cut short by a kill
        while saving: it is removed (resuming from it fails), and the one before it is used."""
        def step(p: Path) -> int:
            return int(p.name.split("-")[1]) if p.name.split("-")[1].isdigit() else -1
        for ckpt in sorted(work_dir.glob("checkpoint-*"), key=step, reverse=True):
            try:
                state = json.loads((ckpt / "trainer_state.json").read_text())
                if (ckpt / "model.safetensors").exists() and isinstance(state.get("global_step"), int):
                    return ckpt, state
            except (OSError, ValueError):
                pass
            shutil.rmtree(ckpt, ignore_errors=True)
        return None, None

    def _train(self, trainer, work_dir: Path) -> None:
        """Train, resuming from the last complete checkpoint. A checkpoint that already reached
        the planned steps is the result: the HF Trainer resumed from it trains a step too many."""
        from transformers.trainer_callback import TrainerState
        ckpt, state = self._last_checkpoint(work_dir)
        if ckpt is not None and 0 < state.get("max_steps", 0) <= state["global_step"]:
            trainer._load_from_checkpoint(str(ckpt))
            trainer.state = TrainerState.load_from_json(str(ckpt / "trainer_state.json"))
            return
        trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)

    # -- stages --------------------------------------------------------------------------
    def sft(self, model_path: str, examples: list[dict], out_dir: Path, s) -> TrainResult:
        from datasets import Dataset
        from trl import SFTConfig, SFTTrainer
        work_dir = out_dir.parent / "work"
        model, tok, original = self._load(model_path, s.dropout)
        args = SFTConfig(**self._common_args(s, work_dir), completion_only_loss=True, packing=False)
        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(examples),
                             processing_class=tok)
        self._train(trainer, work_dir)
        return self._finish(trainer, model, tok, original, work_dir, out_dir)

    def dpo(self, model_path: str, pairs: list[dict], out_dir: Path, s) -> TrainResult:
        from datasets import Dataset
        from trl import DPOConfig, DPOTrainer
        work_dir = out_dir.parent / "work"
        model, tok, original = self._load(model_path, s.dropout)
        ref, _, _ = self._load(model_path, 0.0)
        args = DPOConfig(**self._common_args(s, work_dir), beta=s.beta, disable_dropout=False)
        trainer_cls = DPOTrainer
        if any("weight" in p for p in pairs):  # soft labels (pairs.strategy=cream)
            from .weighted_dpo import WeightedDPOTrainer
            trainer_cls = WeightedDPOTrainer
        trainer = trainer_cls(model=model, ref_model=ref, args=args,
                              train_dataset=Dataset.from_list(pairs), processing_class=tok)
        self._train(trainer, work_dir)
        return self._finish(trainer, model, tok, original, work_dir, out_dir)
