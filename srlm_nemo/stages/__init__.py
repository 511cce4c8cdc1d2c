"""One module per stage; each exposes `run(ctx, stage, fingerprint) -> stats`."""
import importlib


def runner(kind: str):
    if kind in ("h2h", "alpaca", "mtbench"):  # evaluation stages live with their helpers
        from .. import evaluate
        return getattr(evaluate, f"run_{kind}")
    return importlib.import_module(f"{__name__}.{kind}").run
