"""Scoring AlpacaEval answers with the `alpaca_eval` package (optional; `pip install alpaca-eval`).

`eval.alpaca_annotator` picks the annotator:
* a name of alpaca_eval's own configs, e.g. `weighted_alpaca_eval_gpt4_turbo` (AlpacaEval 2.0's
  default; OpenAI, key from OPENAI_API_KEY);
* `endpoint`: the same weighted classifier (alpaca_eval's own AlpacaEval 2.0 prompt file, answer
  token logprobs of `m` vs `M`) sent to the OpenAI-compatible server at `eval.judge_base_url`
  serving `eval.judge_model` (e.g. `vllm serve`).
The baseline is `eval.alpaca_reference` (a model_outputs.json) or, when null, AlpacaEval 2.0's
GPT-4 Turbo reference outputs, which alpaca_eval downloads itself.

Only the default annotator against the default reference gives numbers comparable with the public
leaderboard (and the paper's); every other result says so in its `comparable` field and note.
alpaca_eval runs in a subprocess: its import reads OpenAI settings from the environment."""
from __future__ import annotations

from pathlib import Path

import yaml

from .artifacts import ArtifactError, write_json
from .endpoints import api_key

DEFAULT_ANNOTATOR = "weighted_alpaca_eval_gpt4_turbo"
ENDPOINT = "srlm_endpoint"


def package_dir() -> Path:
    import importlib.util
    spec = importlib.util.find_spec("alpaca_eval")
    if spec is None or not spec.origin:
        raise ArtifactError("eval.alpaca_annotator is set but the alpaca_eval package is not installed "
                            "(pip install alpaca-eval==0.6.6)")
    return Path(spec.origin).parent


def endpoint_annotator(e, work: Path) -> tuple[Path, dict]:
    """alpaca_eval's AlpacaEval 2.0 classifier settings, pointed at our endpoint. Returns the config
    file and the environment that tells alpaca_eval's OpenAI client where to send requests. The
    key travels in that environment only: with no client-config file, alpaca_eval builds its
    client from OPENAI_API_KEY(S) and OPENAI_API_BASE, so no file we leave holds it."""
    if not (e.judge_base_url and e.judge_model):
        raise ArtifactError("eval.alpaca_annotator=endpoint needs eval.judge_base_url and eval.judge_model")
    template = package_dir() / "evaluators_configs" / "alpaca_eval_clf_gpt4_turbo" / "alpaca_eval_clf.txt"
    if not template.exists():
        raise ArtifactError(f"{template}: alpaca_eval's classifier prompt is missing (alpaca_eval version?)")
    cfg = {ENDPOINT: {
        "prompt_template": str(template), "fn_completions": "openai_completions",
        "completions_kwargs": {"model_name": e.judge_model, "max_tokens": 1, "temperature": 1,
                               "logprobs": True, "top_logprobs": 5, "requires_chatml": True},
        "fn_completion_parser": "logprob_parser",
        "completion_parser_kwargs": {"numerator_token": "m", "denominator_tokens": ["m", "M"], "is_binarize": False},
        "completion_key": "completions_all", "batch_size": 1}}
    ann = work / ENDPOINT
    ann.mkdir(parents=True, exist_ok=True)
    (ann / "configs.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    key = api_key(e.judge_api_key_env, e.judge_base_url)  # a server on this machine takes any key
    (work / "client_configs.yaml").unlink(missing_ok=True)  # written by earlier versions, key inside
    return ann / "configs.yaml", {"OPENAI_CLIENT_CONFIG_PATH": str(work / "no-client-config.yaml"),
                                  "OPENAI_API_KEY": key, "OPENAI_API_KEYS": key, "OPENAI_API_BASE": e.judge_base_url}


def hub_instructions(cache_dir: str | Path) -> Path:
    """AlpacaEval's 805 instructions from the hub (tatsu-lab/alpaca_eval) via `datasets`, saved once
    as a local JSON file (the form `--instructions` takes)."""
    out = Path(cache_dir).expanduser() / "alpaca_eval" / "alpaca_eval.json"
    if out.exists():
        return out
    try:
        from datasets import load_dataset
        ds = load_dataset("json", data_files="hf://datasets/tatsu-lab/alpaca_eval/alpaca_eval.json", split="train")
    except Exception as err:  # noqa: BLE001 - offline, hub down, or moved: say what to do instead
        raise ArtifactError(f"could not load AlpacaEval's instructions from the hub ({type(err).__name__}: {err}); "
                            "give a local file with --instructions FILE") from err
    rows = [{"instruction": r["instruction"], "dataset": r.get("dataset", "alpaca_eval")} for r in ds]
    write_json(out, rows)
    return out
