"""`srlm cluster smoke`: the real NeMo and NeMo-Aligner steps of a cluster run, at tiny size on one
node, before anyone spends GPU-hours on 70B (slurm/smoke.sh runs it as a one-node job).

Each step prints one line, `PASS`, `FAIL` (with the last lines of its log and where the log is)
or `SKIP` (why); the command exits 1 on any FAIL. The commands are the ones a real run renders
(srlm_nemo/backends/nemo_aligner/commands.py), on a tiny random Llama with grouped-query attention and tied
embeddings, with only the sizes and the layout scaled to the node:

    probe        what the training Python has: torch and its GPUs, NeMo, Megatron Core,
                 NeMo-Aligner, Apex's CUDA extensions, Transformer Engine
    tiny_model   the tiny HF checkpoint
    convert      NeMo's convert_llama_hf_to_nemo.py, as rendered (BF16 asked)
    verify       our check of the .nemo against the HF config (BF16 asked, FP16 written = FAIL)
    round_trip   NeMo's convert_llama_nemo_to_hf.py; the logits of the round-tripped HF model vs
                 the original's (its weights rounded to BF16 as the .nemo holds them), float32,
                 max abs difference <= 1e-4; the HF folder holds no pickle
    sft, dpo     NeMo-Aligner's train_gpt_sft.py / train_gpt_dpo.py, a few steps, TP x PP scaled
                 to the node's GPUs (TP 2 x PP 2 on 4), without dropout; DPO's first loss = ln 2
                 within 1e-3 (policy = reference at step 0, read from NeMo's TensorBoard log), and
                 its first reference log-probs = an HF forward of the same tokens through the SFT
                 model converted back to HF (max per-token difference <= 0.05 nats: BF16)
    export       the DPO checkpoint -> .nemo (megatron_ckpt_to_nemo.py) -> HF, as checkpoint
                 selection does; transformers loads it and generates
    generate     the configured generation backend samples answers from the newest model there
                 is, judges them with the judge template, and judges it head to head against the
                 tiny model in both orders (the checkpoint-selection comparison)

A step whose requirements are missing is SKIPped with what is missing: NeMo 2.1.0's converter
asserts Transformer Engine whenever Megatron Core's GPT is used, and its NLPDDPStrategy needs
Apex's distributed Adam, which imports Apex's CUDA extensions (amp_C, distributed_adam_cuda); so
without the NeMo training image (or its packages) the conversion steps cannot run at all.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from ..backends.nemo_aligner import checkpoints, commands, data
from ..config import ArchConfig
from ..megatron_layout import validate_layout

PROBE = r"""
import importlib, json
out = {}
try:
    import torch
    out["torch"] = torch.__version__
    out["cuda_gpus"] = torch.cuda.device_count() if torch.cuda.is_available() else 0
except Exception as e:
    out["torch"], out["cuda_gpus"], out["torch_error"] = None, 0, repr(e)[:300]
# apex_cuda: what NeMo's DDP strategy (every NeMo script here) imports, Apex's distributed Adam with
# its CUDA extensions amp_C and distributed_adam_cuda. Transformer Engine: its torch part by name, since
# TE's own __init__ swallows an ImportError of transformer_engine.pytorch (Megatron Core then fails later)
for name, mod in [("nemo", "nemo"), ("megatron_core", "megatron.core"), ("nemo_aligner", "nemo_aligner"),
                  ("transformer_engine", "transformer_engine.pytorch"),
                  ("apex_cuda", "nemo.core.optim.distributed_adam")]:
    try:
        m = importlib.import_module(mod)
        top = importlib.import_module(mod.split(".")[0])
        out[name] = str(getattr(m, "__version__", None) or getattr(top, "__version__", "present"))
    except Exception as e:
        out[name], out[name + "_error"] = None, f"{type(e).__name__}: {e}"[:300]
print("PROBE " + json.dumps(out))
"""
LOG_TAIL = 15
# the tiny model srlm_nemo/tiny.py builds, as the layout check sees it
TINY_ARCH = ArchConfig(num_layers=2, num_attention_heads=4, hidden_size=64, vocab_size=2000, max_seq_len=1024,
                       params_b=0.0)
ROUND_TRIP_TOLERANCE = 1e-4
# NeMo computes in BF16 (8 bits of mantissa): a log-prob of a 2000-token softmax may move by
# about 1e-2; a wrong weight mapping moves them by whole nats.
REFERENCE_TOLERANCE = 0.05
# The first `train/loss` NeMo-Aligner logged (exp_manager's TensorBoard logger), read by the
# training Python, which has TensorBoard wherever NeMo wrote the log.
READ_FIRST_LOSS = r"""
import pathlib, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
first = None
for f in sorted(pathlib.Path(sys.argv[1]).rglob("events.out.tfevents.*")):
    ea = EventAccumulator(str(f), size_guidance={"scalars": 0})
    ea.Reload()
    if "train/loss" in ea.Tags()["scalars"]:
        e = min(ea.Scalars("train/loss"), key=lambda e: e.step)
        if first is None or e.step < first[0]:
            first = (e.step, e.value)
print("FIRST_LOSS", *(first or ()))
"""


class Skip(Exception):
    pass


class Fail(Exception):
    def __init__(self, why: str, log: Path | None = None):
        super().__init__(why)
        self.log = log


@dataclass
class Result:
    name: str
    status: str  # PASS | FAIL | SKIP
    seconds: float
    detail: str
    log: Path | None = None


class Smoke:
    def __init__(self, cfg, work: Path, python: str, nemo_dir: Path | None, aligner_dir: Path | None,
                 out: Callable[[str], None] = print, timeout_s: int = 1800, force: bool = False):
        # the steps run in `work`: a relative interpreter or source path means one from here
        python = str(Path(python).absolute()) if "/" in python else (shutil.which(python) or python)
        self.cfg, self.work, self.python, self.out, self.timeout_s = cfg, Path(work).resolve(), python, out, timeout_s
        nemo_dir, aligner_dir = (Path(d).absolute() if d else None for d in (nemo_dir, aligner_dir))
        self.nemo_dir, self.aligner_dir = nemo_dir, aligner_dir
        self.cluster = replace(cfg.cluster, nemo_dir=str(nemo_dir or "/missing/NeMo"),
                               nemo_aligner_dir=str(aligner_dir or "/missing/NeMo-Aligner"))
        self.logs = self.work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env: dict = {}
        self.results: list[Result] = []
        self.force = force  # run a step even where the probe says it cannot (to see its own error)

    # -- running --------------------------------------------------------------------------
    def step(self, name: str, fn: Callable[[], str]) -> Result:
        t0 = time.time()
        try:
            r = Result(name, "PASS", 0.0, fn())
        except Skip as e:
            r = Result(name, "SKIP", 0.0, str(e))
        except Fail as e:
            r = Result(name, "FAIL", 0.0, str(e), e.log)
        except Exception as e:  # a bug or an environment problem in our own code: still one line
            r = Result(name, "FAIL", 0.0, f"{type(e).__name__}: {e}")
        r.seconds = time.time() - t0
        self.results.append(r)
        self.out(f"{r.status:4}  {name:<11} {r.seconds:7.1f} s  {r.detail}")
        if r.status == "FAIL" and r.log and r.log.exists():
            tail = r.log.read_text(errors="replace").splitlines()[-LOG_TAIL:]
            self.out("\n".join("      | " + (line if len(line) <= 400 else line[:400] + " ...") for line in tail))
            self.out(f"      full log: {r.log}")
        return r

    def run(self, name: str, cmd: list[str], python: bool = True, env: dict | None = None) -> Path:
        """Runs `cmd` (a rendered command: its leading "python" becomes the training Python),
        output to logs/<name>.log; Fail on a non-zero exit."""
        if python and cmd[0] == "python":
            cmd = [self.python, *cmd[1:]]
            # rendered commands run modules of ours (the DPO launcher, the converter's template)
            env = {"PYTHONPATH": self.launcher_path(), **(env or {})}
        log = self.logs / f"{name}.log"
        with open(log, "a") as f:
            f.write(f"$ {' '.join(cmd)}\n")
            f.flush()
            try:
                p = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=self.work, timeout=self.timeout_s,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
            except subprocess.TimeoutExpired:
                raise Fail(f"timed out after {self.timeout_s} s", log) from None
        if p.returncode != 0:
            raise Fail(f"exit {p.returncode}", log)
        return log

    def need(self, *what: str) -> None:
        """Skip unless the probe found each package (and, for "gpu", a CUDA device)."""
        missing = []
        for w in what:
            if w == "gpu" and not self.env.get("cuda_gpus"):
                missing.append("a CUDA GPU")
            elif w == "nemo_dir" and not (self.nemo_dir and (self.nemo_dir / "scripts").is_dir()):
                missing.append("NeMo's sources (--nemo-dir)")
            elif w == "aligner_dir" and not (self.aligner_dir and (self.aligner_dir / "examples").is_dir()):
                missing.append("NeMo-Aligner's sources (--aligner-dir)")
            elif w not in ("gpu", "nemo_dir", "aligner_dir") and not self.env.get(w):
                missing.append(f"{w} ({self.env.get(w + '_error', 'not importable')})")
        if missing and not self.force:
            raise Skip("needs " + "; ".join(missing) + f" in {self.python}")

    def skip_after(self, *names: str) -> None:
        for r in self.results:
            if r.name in names and r.status != "PASS":
                raise Skip(f"{r.name} did not pass")

    # -- the steps ------------------------------------------------------------------------
    def probe(self) -> str:
        log = self.run("probe", [self.python, "-c", PROBE], python=False)
        line = next((x for x in log.read_text().splitlines() if x.startswith("PROBE ")), None)
        if line is None:
            raise Fail("the probe printed nothing", log)
        self.env = json.loads(line[len("PROBE "):])
        e = self.env
        return (f"torch {e.get('torch')}, {e.get('cuda_gpus', 0)} CUDA GPU(s), nemo {e.get('nemo')}, "
                f"megatron-core {e.get('megatron_core')}, nemo-aligner {e.get('nemo_aligner')}, "
                f"apex CUDA extensions {'yes' if e.get('apex_cuda') else 'no'}, "
                f"transformer-engine {e.get('transformer_engine') or 'no'}")

    def tiny_model(self) -> str:
        from ..tiny import build_tiny_model, demo_texts
        d = self.work / "tiny_hf"
        shutil.rmtree(d, ignore_errors=True)
        build_tiny_model(d, demo_texts())
        c = json.loads((d / "config.json").read_text())
        return (f"{d}: {c['num_hidden_layers']} layers, {c['num_attention_heads']} heads / "
                f"{c['num_key_value_heads']} KV heads, tied embeddings {c['tie_word_embeddings']}")

    def convert(self) -> str:
        self.skip_after("tiny_model")
        self.need("nemo_dir", "nemo", "megatron_core", "transformer_engine", "apex_cuda")
        out = self.work / "input.nemo"
        self.run("convert", commands.convert_hf_to_nemo(self.cluster, str(self.work / "tiny_hf"), str(out)))
        return f"{out} ({out.stat().st_size / 1e6:.1f} MB)"

    def verify(self) -> str:
        self.skip_after("convert")
        log = self.run(
            "verify",
            [
                sys.executable,
                "-m",
                "srlm_nemo.backends.nemo_aligner.checks",
                str(self.work / "input.nemo"),
                str(self.work / "tiny_hf"),
                "--precision",
                commands.CONVERT_PRECISION,
            ],
            python=False,
        )
        return log.read_text().splitlines()[-1][:200]

    def round_trip(self) -> str:
        self.skip_after("verify")
        out = self.work / "round_trip_hf"
        self.nemo_to_hf("round_trip", self.work / "input.nemo", out)
        pickles = [p.name for p in out.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".pkl")]
        if pickles:
            raise Fail(f"the HF folder holds pickles: {pickles}")
        diff = max_logit_difference(self.work / "tiny_hf", out)
        if not diff <= ROUND_TRIP_TOLERANCE:
            raise Fail(f"logits differ by {diff:.3g} > {ROUND_TRIP_TOLERANCE:g} (float32, weights rounded to bf16)")
        return f"max |logit difference| {diff:.3g} <= {ROUND_TRIP_TOLERANCE:g} (float32 forward, bf16 weights)"

    def nemo_to_hf(self, name: str, nemo: Path | str, out: Path) -> None:
        """The run's own .nemo -> HF commands, with the tiny model as the base."""
        for cmd in commands.convert_nemo_to_hf(self.cluster, str(nemo), str(self.work / "tiny_hf"), str(out), 0.0):
            self.run(name, cmd)

    def _train(self, algo: str, env: dict | None = None) -> Path:
        self.skip_after("verify")
        self.need("gpu", "aligner_dir", "nemo_aligner", "apex_cuda")
        s = scaled_section(getattr(self.cfg, algo), self.env.get("cuda_gpus") or 1)
        cluster = replace(self.cluster, gpus_per_node=s.parallel.tensor_parallel * s.parallel.pipeline_parallel)
        validate_layout(algo, s, TINY_ARCH, cluster)  # the run's own layout check, on the smoke's layout
        d = self.work / algo
        train, val = write_training_data(algo, self.work / "tiny_hf", d, s.global_batch_size)
        nemo_in = (
            str(self.work / "input.nemo")
            if algo == "sft"
            else checkpoints.final_nemo(str(self.work / "sft" / "results"))
        )
        build = commands.train_sft_command if algo == "sft" else commands.train_dpo_command
        return self.run(
            algo,
            build(cluster, s, nemo_in=nemo_in, train=str(train), val=str(val), out_dir=str(d / "results")),
            env=env,
        )

    def sft(self) -> str:
        self._train("sft")
        return f"{self.cfg.sft.max_steps} steps; {checkpoints.final_nemo(str(self.work / 'sft' / 'results'))}"

    def dpo(self) -> str:
        self.skip_after("sft")
        dump = self.work / "dpo" / "reference_logprobs.json"
        dump.unlink(missing_ok=True)
        log = self._train("dpo", env={"SRLM_DUMP_REFERENCE": str(dump)})
        first, source = self.first_dpo_loss(log)
        if abs(first - math.log(2)) > 1e-3:
            raise Fail(f"first DPO loss {first:.5f} ({source}), not ln 2 = {math.log(2):.5f} within 1e-3: "
                       "policy and reference differ at step 0", log)
        worst, mean = self.reference_vs_hf(dump)
        return (f"first loss {first:.5f} ({source}; ln 2 = {math.log(2):.5f}); reference log-probs vs HF: "
                f"max {worst:.3g}, mean {mean:.3g} nats per token (<= {REFERENCE_TOLERANCE:g})")

    def launcher_path(self) -> str:
        """A PYTHONPATH holding only this package, for the modules of ours that rendered commands
        run (`-m srlm_nemo.backends.nemo_aligner.run_aligner_dpo`, `...untied_base`) where the training Python
        lacks srlm: nothing else of our environment (transformers 5, numpy 2) may reach NeMo's."""
        d = self.work / "pythonpath"
        d.mkdir(exist_ok=True)
        if not (d / "srlm_nemo").exists():
            (d / "srlm_nemo").symlink_to(Path(__file__).resolve().parent, target_is_directory=True)
        return os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(d)]))

    def first_dpo_loss(self, log: Path) -> tuple[float, str]:
        try:
            tb = self.run("dpo_loss", [self.python, "-c", READ_FIRST_LOSS, str(self.work / "dpo" / "results")],
                          python=False)
            line = next((x.split() for x in tb.read_text().splitlines() if x.startswith("FIRST_LOSS")), [])
        except Fail:  # no TensorBoard in the training Python
            line = []
        if len(line) == 3:
            return float(line[2]), f"TensorBoard train/loss at step {line[1]}"
        first = first_loss(log.read_text())  # no TensorBoard log: the progress bar's 3 digits
        if first is None:
            raise Fail("no train/loss in NeMo's TensorBoard log and no train_loss in the progress output", log)
        return first, "progress bar, 3 digits"

    def reference_vs_hf(self, dump: Path) -> tuple[float, float]:
        """NeMo-Aligner's first reference log-probs against an HF forward of the same tokens
        through the DPO's starting model (the SFT .nemo, converted back to HF as a run does)."""
        if not dump.exists():
            raise Fail(f"the DPO launcher wrote no reference log-probs to {dump}")
        hf = self.work / "sft_hf"
        self.nemo_to_hf("sft_to_hf", checkpoints.final_nemo(str(self.work / "sft" / "results")), hf)
        worst, mean = reference_difference(json.loads(dump.read_text()), hf)
        if not worst <= REFERENCE_TOLERANCE:
            raise Fail(f"reference log-probs differ from the HF forward by up to {worst:.3g} nats per token "
                       f"(mean {mean:.3g}) > {REFERENCE_TOLERANCE:g}")
        return worst, mean

    def export(self) -> str:
        self.skip_after("dpo")
        ckpts = checkpoints.saved_checkpoints(self.work / "dpo" / "results" / "checkpoints")
        if not ckpts:
            raise Fail("DPO saved no checkpoint")
        s = scaled_section(self.cfg.dpo, self.env.get("cuda_gpus") or 1)
        out = self.work / "exported_hf"
        for cmd in commands.export_checkpoint(self.cluster, s, str(self.work / "dpo" / "results" / "checkpoints"),
                                        ckpts[-1], str(self.work / "exported.nemo"), str(self.work / "tiny_hf"),
                                        str(out), 0.0):
            self.run("export", cmd)
        text = generate_text(out)
        return f"{ckpts[-1]} -> {out}; transformers generated {len(text)} characters"

    def generate(self) -> str:
        from ..context import RunContext
        from ..evaluate import head_to_head
        from ..schemas import Sampling
        from ..templates import chat
        model = next((self.work / d for d in ("exported_hf", "round_trip_hf", "tiny_hf")
                      if (self.work / d / "config.json").exists()), None)
        if model is None:
            raise Skip("no model to sample from")
        ctx = RunContext(replace(self.cfg, run=replace(self.cfg.run, run_dir=str(self.work / "generate"))), quiet=True)
        questions = ["Name two uses of a paper clip.", "Say hello in French."]
        c = self.cfg.candidates
        outs = ctx.generator(model).chat([chat(None, q) for q in questions],
                                         Sampling(n=2, temperature=c.temperature, top_p=c.top_p, max_tokens=16, seed=0))
        parse_rate = judge_answers(ctx, model, questions, outs)
        res, _, _ = head_to_head(ctx, model, self.work / "tiny_hf", [{"instruction": q} for q in questions], model)
        if res["prompts"] != len(questions):
            raise Fail(f"head to head judged {res['prompts']} of {len(questions)} prompts")
        ctx.release_generator()
        return (f"{model.name} on {self.cfg.generation.name}: {sum(len(o) for o in outs)} answers, judge parse rate "
                f"{parse_rate:.2f}; head to head vs tiny_hf: win {res['win']} tie {res['tie']} loss {res['loss']}")

    def all(self) -> int:
        for name in ("probe", "tiny_model", "convert", "verify", "round_trip", "sft", "dpo", "export", "generate"):
            self.step(name, getattr(self, name))
        failed = [r.name for r in self.results if r.status == "FAIL"]
        self.out(f"smoke: {sum(r.status == 'PASS' for r in self.results)} passed, {len(failed)} failed, "
                 f"{sum(r.status == 'SKIP' for r in self.results)} skipped; logs in {self.logs}")
        return 1 if failed else 0


# -- helpers ------------------------------------------------------------------------------

def scaled_section(s, gpus: int):
    """The sft/dpo section at smoke size, its layout scaled to the node: TP 2 x PP 2 on 4 or
    more GPUs, TP 2 on 2 or 3, TP 1 on 1 (the tiny model has 4 heads, 2 KV heads, 2 layers);
    no dropout."""
    tp = 2 if gpus >= 2 else 1
    pp = 2 if gpus >= 4 else 1
    par = replace(s.parallel, tensor_parallel=tp, pipeline_parallel=pp, nodes=1, virtual_pipeline=None,
                  sequence_parallel=s.parallel.sequence_parallel and tp > 1)
    # No dropout: with it the policy's step-0 forward differs from the reference's by its masks,
    # and neither ln 2 nor the HF comparison would hold exactly.
    return replace(s, parallel=par, max_steps=2, save_steps=1, global_batch_size=4, micro_batch_size=1,
                   max_seq_len=256, dropout=0.0)


def first_loss(log_text: str) -> float | None:
    """The first `train_loss` NeMo-Aligner's DPO progress bar shows (tqdm's postfix of the step's
    metrics, `train_loss=0.693`: three significant digits)."""
    import re
    m = re.search(r"\btrain_loss=([0-9.]+(?:e-?[0-9]+)?)", log_text)
    return float(m.group(1)) if m else None


def reference_difference(dump: dict, model_dir: Path) -> tuple[float, float]:
    """Max and mean |NeMo-Aligner's reference log-prob - HF's| over the response tokens (labels
    >= 0) of the dumped sequences; HF in float32. Inputs and labels as NeMo-Aligner's collate
    builds them: labels[i] is the token after tokens[i], -100 where nothing is trained."""
    import torch
    from transformers import AutoModelForCausalLM
    m = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    diffs = []
    for tokens, labels, ref in zip(dump["tokens"], dump["labels"], dump["logprobs"]):
        with torch.no_grad():
            logp = torch.log_softmax(m(torch.tensor([tokens])).logits[0].float(), dim=-1)
        for i, label in enumerate(labels):
            if label >= 0:
                diffs.append(abs(float(logp[i, label]) - ref[i]))
    if not diffs:
        raise Fail("the dumped reference batch has no response tokens")
    return max(diffs), sum(diffs) / len(diffs)


def max_logit_difference(original: Path, round_tripped: Path) -> float:
    """Max |logit| difference on a few prompts, float32: the original's weights rounded to bf16
    (what the .nemo holds) against the model read back from the conversion."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(original))
    a = AutoModelForCausalLM.from_pretrained(str(original), dtype=torch.float32)
    with torch.no_grad():
        for p in a.parameters():
            p.copy_(p.to(torch.bfloat16).to(torch.float32))
    b = AutoModelForCausalLM.from_pretrained(str(round_tripped), dtype=torch.float32)
    worst = 0.0
    for text in ("user Score : 1 2 3", "assistant 4 5", "system user assistant"):
        ids = tok(text, return_tensors="pt").input_ids
        with torch.no_grad():
            worst = max(worst, float((a(ids).logits - b(ids).logits).abs().max()))
    return worst


def generate_text(model_dir: Path) -> str:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    m = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    ids = tok("user Score", return_tensors="pt").input_ids
    out = m.generate(ids, max_new_tokens=8, do_sample=False)
    return tok.decode(out[0][ids.shape[1]:])


def write_training_data(algo: str, model_dir: Path, d: Path, global_batch: int) -> tuple[Path, Path]:
    """NeMo-Aligner's SFT or DPO files, written by the run's own writers from the demo seed:
    SFT on prompt -> reply; DPO prefers the reply to its first sentence."""
    from transformers import AutoTokenizer

    from ..tiny import demo_ift
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    rows = demo_ift()[:2 * global_batch]
    d.mkdir(parents=True, exist_ok=True)
    out = []
    for split, part in (("train", rows[:global_batch]), ("val", rows[global_batch:])):
        path = d / f"{split}.jsonl"
        prompt = [[{"role": "user", "content": r["prompt"]}] for r in part]
        if algo == "sft":
            data.write_sft_data(tok, [{"prompt": p, "completion": [{"role": "assistant", "content": r["response"]}]}
                                    for p, r in zip(prompt, part)], path, global_batch)
        else:
            data.write_dpo_data(tok, [{"prompt": p, "chosen": [{"role": "assistant", "content": r["response"]}],
                                     "rejected": [{"role": "assistant", "content": r["response"].split(". ")[0]}]}
                                    for p, r in zip(prompt, part)], path, global_batch)
        out.append(path)
    return out[0], out[1]


def judge_answers(ctx, model: Path, questions: list[str], outs) -> float:
    """The judge template on each sampled answer; the share of judgements with a valid score."""
    from ..stages._shards import judge_samples
    items = [(q, comp.text or "(empty)") for q, comps in zip(questions, outs) for comp in comps]
    judged = judge_samples(ctx, model, items, 1, seed=0)
    scores = [p.score for comps, _ in judged for _, p in comps]
    return sum(s is not None for s in scores) / len(scores)
