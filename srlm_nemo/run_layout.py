"""The run directory: the one module that spells where a run keeps its files.

    <run_dir>/config.yaml              the resolved config of the last `srlm run`
    <run_dir>/summary.md, report/      views of the manifests (srlm_nemo/summary.py, report.py)
    <run_dir>/seed/<name>.jsonl        ift, eft_train, eval_trees, ranked_pool
    <run_dir>/sft_ift/model            the IFT-only SFT model (the EFT builder's judge)
    <run_dir>/sft/model                M1
    <run_dir>/iter_<t>/<stage>/        iteration t's stages; iter_<t>/dpo/model is M_t
    <run_dir>/eval/<kind>/<label>/     evaluations: rm, h2h, alpaca, mt_bench

A stage's name is its folder under the run directory; every stage folder holds manifest.json.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SEED_FILES = ("ift", "eft_train", "eval_trees", "ranked_pool", "select")


def iteration_stage(t: int, kind: str) -> str:
    """The name of iteration t's stage `kind` ("iter_2/judge")."""
    return f"iter_{t}/{kind}"


def eval_stage(kind: str, label: str) -> str:
    """The name of an evaluation stage ("eval/rm/M2", "eval/h2h/M3_vs_M2")."""
    return f"eval/{kind}/{label}"


def model_stage(label: str) -> str | None:
    """The stage that trains the run's model `label` (M1, M2, ..., SFT-IFT), else None."""
    if label == "SFT-IFT":
        return "sft_ift"
    if label.startswith("M") and label[1:].isdigit() and int(label[1:]) >= 1:
        t = int(label[1:])
        return "sft" if t == 1 else iteration_stage(t, "dpo")
    return None


@dataclass(frozen=True)
class RunLayout:
    root: Path

    @classmethod
    def of(cls, cfg) -> "RunLayout":
        return cls(Path(cfg.run.run_dir).expanduser().resolve())

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def summary(self) -> Path:
        return self.root / "summary.md"

    @property
    def report_dir(self) -> Path:
        return self.root / "report"

    def stage_dir(self, name: str) -> Path:
        return self.root / name

    def output(self, stage: str, filename: str) -> Path:
        return self.root / stage / filename

    def manifest(self, stage: str) -> Path:
        return self.output(stage, "manifest.json")

    def seed_file(self, name: str) -> Path:
        return self.output("seed", f"{name}.jsonl")

    def iteration_output(self, t: int, kind: str, filename: str) -> Path:
        return self.output(iteration_stage(t, kind), filename)

    def model(self, label: str) -> Path | None:
        """The folder of the run's model `label` (M1, M2, ..., SFT-IFT), else None."""
        stage = model_stage(label)
        return self.output(stage, "model") if stage else None

    def iterations(self) -> list[int]:
        """The iterations that have a folder, in order."""
        return sorted(int(p.name.split("_", 1)[1]) for p in self.root.glob("iter_*") if p.name[5:].isdigit())

    def eval_kind_dir(self, kind: str) -> Path:
        return self.root / "eval" / kind

    def model_or_path(self, cfg, label_or_path: str, key: str = "model.path") -> tuple[str, Path]:
        """(label, folder) of a model of the run by label (M1, M2, ..., SFT-IFT, `last`), or of any
        HF checkpoint path (labelled by its folder's name); `key` names the config key in errors."""
        if label_or_path == "last":
            label_or_path = f"M{cfg.run.iterations}"
        if (folder := self.model(label_or_path)) is not None:
            return label_or_path, folder
        from .config import paths_on_cluster
        from .models import resolve_model
        folder = Path(label_or_path) if paths_on_cluster(cfg) else \
            resolve_model(label_or_path, cfg.run.cache_dir, convert=False, key=key)
        return folder.name, folder
