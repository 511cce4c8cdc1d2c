"""One module per stage kind: what it reads, its inputs and outputs, the `declare` function that
puts it in the stage graph, and its `run(ctx, stage, fingerprint) -> stats`."""
from . import (alpaca, alpaca_score, candidates, dpo, eft, h2h, judge, logprob, meta_judge, mtbench, pairs, prompts,
               rm_eval, seed, sft)

MODULES = {"seed": seed, "sft": sft, "eft": eft, "prompts": prompts, "candidates": candidates, "judge": judge,
           "logprob": logprob, "meta_judge": meta_judge, "pairs": pairs, "dpo": dpo, "rm_eval": rm_eval, "h2h": h2h,
           "alpaca": alpaca, "mtbench": mtbench, "alpaca_score": alpaca_score}
RUNNERS = {kind: module.run for kind, module in MODULES.items()}
# Stages that read files a user names check them with `validate(stage)` before the runner removes
# anything of their earlier run (validate before wipe).
VALIDATORS = {kind: module.validate for kind, module in MODULES.items() if hasattr(module, "validate")}
# The stages that work in shards (stages/_shards.py): on a cluster, several workers fill them.
SHARDED_KINDS = {"candidates", "judge", "logprob", "meta_judge", "eft", "rm_eval"}


def runner(kind: str):
    try:
        return RUNNERS[kind]
    except KeyError:
        raise ValueError(f"no stage kind {kind!r}; kinds: {', '.join(sorted(RUNNERS))}") from None
