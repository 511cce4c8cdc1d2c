"""What the runner holds for a whole run: the config, paths, and engines that outlive one stage.

One generation engine per model, reused by every stage that model serves (engine start is
the slowest step on CPU); released before training so the trainer gets the memory. Stages see
this through `pipeline.StageContext`, which shows each only the config it declared.
"""
from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

from .backends.factory import make_generator, make_trainer
from .config import Config
from .models import resolve_model


class RunContext:
    def __init__(self, cfg: Config, quiet: bool = False):
        self.cfg = cfg
        self.run_dir = Path(cfg.run.run_dir).expanduser().resolve()
        self.quiet = quiet
        self._gen = None
        self._gen_model = None
        self._trainer = None
        # (rank, world) when this process is one of several filling a generation stage's shards
        self.shard_worker: tuple[int, int] | None = None
        # DPO: stop after training when a separate step selects the checkpoint (cluster: training
        # on the batch host, selection with vLLM in the generation container)
        self.train_only = False

    def log(self, msg: str) -> None:
        if not self.quiet:
            print(msg, file=sys.stderr, flush=True)

    def base_model(self, convert: bool = True) -> Path:
        return resolve_model(self.cfg.model.path, self.cfg.run.cache_dir, convert=convert)

    def generator(self, model_dir: str | Path):
        model_dir = str(model_dir)
        if self._gen is not None and self._gen_model == model_dir:
            return self._gen
        self.release_generator()
        self.log(f"       starting {self.cfg.generation.name} engine for {model_dir}")
        self._gen = make_generator(self.cfg.generation, model_dir, self.cfg.model)
        self._gen_model = model_dir
        return self._gen

    def remote_generator(self, base_url: str, served_model: str | None):
        """An OpenAI-compatible server as a generator (an evaluation's judge, its key from
        `eval.judge_api_key_env`); the caller closes it."""
        g = type(self.cfg.generation)(**{**asdict(self.cfg.generation), "name": "openai", "base_url": base_url,
                                         "served_model_name": served_model,
                                         "api_key_env": self.cfg.eval.judge_api_key_env})
        return make_generator(g, served_model or "judge", self.cfg.model)

    def release_generator(self) -> None:
        if self._gen is not None:
            self._gen.close()
            self._gen = self._gen_model = None

    def trainer(self):
        self.release_generator()
        if self._trainer is None:
            self._trainer = make_trainer(self.cfg)
        return self._trainer
