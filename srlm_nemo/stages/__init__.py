"""One module per stage; each stage kind maps to its `run(ctx, stage, fingerprint) -> stats`."""
from .. import alpaca_eval_run
from . import candidates, dpo, eft, evaluation, judge, meta_judge, pairs, prompts, rm_eval, seed, sft

RUNNERS = {
    "seed": seed.run, "sft": sft.run, "eft": eft.run, "prompts": prompts.run, "candidates": candidates.run,
    "judge": judge.run, "meta_judge": meta_judge.run, "pairs": pairs.run, "dpo": dpo.run, "rm_eval": rm_eval.run,
    "h2h": evaluation.run_h2h, "alpaca": evaluation.run_alpaca, "mtbench": evaluation.run_mtbench,
    "alpaca_score": alpaca_eval_run.run_score,
}


def runner(kind: str):
    try:
        return RUNNERS[kind]
    except KeyError:
        raise ValueError(f"no stage kind {kind!r}; kinds: {', '.join(sorted(RUNNERS))}") from None
