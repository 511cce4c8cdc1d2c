"""One module per stage; each exposes `run(ctx, stage, fingerprint) -> stats`."""
import importlib


def runner(kind: str):
    return importlib.import_module(f"{__name__}.{kind}").run
