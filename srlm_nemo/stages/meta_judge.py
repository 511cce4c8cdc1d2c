"""Meta-judge stage (judge.meta=true; Meta-Rewarding, srlm_nemo/meta_judge.py): M_t compares two of
its own judgements of one answer, in both orders, and the better and worse judgement become a
judgement pair for DPO.

in : candidates.jsonl (Candidate), judgements.jsonl (Judgement) of the judge stage, model M_t,
     the judge template (the pair's prompt) and `judge.meta_template`
out: <stage>/verdicts.jsonl (MetaVerdict: every comparison), <stage>/judge_pairs.jsonl
     (PreferencePair, kind="judgement"; none whose chosen judgement is longer than
     judge.meta_max_chosen_chars); battles, position wins and pairs in the manifest
"""
from __future__ import annotations

from pathlib import Path

from ..artifacts import read_jsonl, write_jsonl
from ..meta_judge import battles, judge_pairs, select_answers
from ..verdicts import parse_winner
from ..pipeline import Stage, reads
from ..run_layout import RunLayout, iteration_stage
from ..schemas import Candidate, Judgement, Message, MetaVerdict, Sampling
from ..templates import chat, judge_prompt, render, template_path
from ._shards import fit_prompts, generate_in_shards, shard_seed
from .judge import READS as JUDGE_READS

READS = (*JUDGE_READS, "judge.meta_template", "judge.meta_max_new_tokens", "judge.meta_max_chosen_chars")


def declare(cfg, layout: RunLayout, t: int, candidates: Path, judgements: Path, model: Path, label: str) -> Stage:
    name = iteration_stage(t, "meta_judge")
    d = layout.stage_dir(name)
    return Stage(name, "meta_judge", d, config=reads(cfg, *READS),
                 inputs={"candidates": candidates, "judgements": judgements, "model": model,
                         "template": template_path(cfg.judge.template),
                         "meta_template": template_path(cfg.judge.meta_template)},
                 outputs={"verdicts": d / "verdicts.jsonl", "judge_pairs": d / "judge_pairs.jsonl"},
                 iteration=t, model=label)


def _winner(text: str) -> str | None:
    """A or B; anything else (no verdict line, or a tie the format does not offer) counts nothing."""
    verdict = parse_winner(text)
    return verdict if verdict in ("A", "B") else None


def run(ctx, stage, fp):
    j, system = ctx.cfg.judge, ctx.cfg.model.system_prompt
    cands = read_jsonl(stage.inputs["candidates"], Candidate)
    selected = select_answers(cands, read_jsonl(stage.inputs["judgements"], Judgement))
    bouts = battles(selected)

    def make(chunk, i):
        def conv(k, question, response):
            _, a, b = chunk[k]
            return chat(system, render(j.meta_template, judge_request=judge_prompt(j.template, question, response),
                                       judgement_a=a.text.strip(), judgement_b=b.text.strip()))
        gen = ctx.generator(stage.inputs["model"])
        convs, _ = fit_prompts(ctx, gen, [(c.prompt, c.text or "(empty)") for c, _, _ in chunk], conv,
                               j.meta_max_new_tokens)
        sampling = Sampling(n=1, temperature=j.temperature, top_p=j.top_p, max_tokens=j.meta_max_new_tokens,
                            seed=shard_seed(ctx.cfg.run.seed, stage.iteration, 7, i))
        outs = gen.chat(convs, sampling)
        return [MetaVerdict(candidate_id=c.id, prompt_id=c.prompt_id, first=a.sample, second=b.sample,
                            text=o[0].text, winner=_winner(o[0].text))
                for (c, a, b), o in zip(chunk, outs)]

    verdicts = generate_in_shards(ctx, stage, fp, bouts, j.shard_size, make, MetaVerdict,
                                  f"iter {stage.iteration} meta-judge")

    def prompt(c):  # the judge prompt the judgements answered, as DPO's conversational prompt
        return [Message(**m) for m in chat(system, judge_prompt(j.template, c.prompt, c.text or "(empty)"))]
    pairs, stats = judge_pairs(selected, verdicts, prompt, j.meta_max_chosen_chars)
    write_jsonl(stage.outputs["verdicts"], verdicts)
    write_jsonl(stage.outputs["judge_pairs"], pairs)
    return stats
