"""One module per stage; each exposes `run(ctx, stage, fingerprint) -> stats`."""
import importlib


def runner(kind: str):
    if kind in ("h2h", "alpaca", "mtbench"):  # evaluation stages live with their helpers
        from .. import evaluate
        return getattr(evaluate, f"run_{kind}")
    if kind == "alpaca_score":
        from ..alpaca_eval_run import run_score
        return run_score
    return importlib.import_module(f"{__name__}.{kind}").run
