"""The run's summary, from the stage manifests alone (no model is loaded)."""
from __future__ import annotations

import json
from pathlib import Path

from .artifacts import write_json
from .run_layout import RunLayout, iteration_stage


def _load(p: Path) -> dict | None:
    """A finished stage's manifest, or None (absent, or not a manifest: a hand-edited file must
    not stop the summary; the runner says so and runs the stage again)."""
    try:
        m = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) and isinstance(m.get("stats"), dict) else None


def _manifests(pattern_dir: Path, pattern: str) -> list[dict]:
    return [m for m in (_load(p) for p in sorted(pattern_dir.glob(pattern))) if m is not None]


def _manifest(run_dir: Path, name: str) -> dict | None:
    return _load(RunLayout(Path(run_dir)).manifest(name))


def h2h_results(run_dir: Path) -> list[dict]:
    """The stats of every head-to-head stage (eval/h2h/<A>_vs_<B>), in name order."""
    return [m["stats"] for m in _manifests(RunLayout(Path(run_dir)).eval_kind_dir("h2h"), "*/manifest.json")]


def alpaca_scores(run_dir: Path) -> dict[str, dict]:
    """Model label -> the alpaca_eval result of its AlpacaEval answers (eval/alpaca/<label>/alpaca_eval)."""
    return {p.parent.parent.name: json.loads(p.read_text())
            for p in sorted(RunLayout(Path(run_dir)).eval_kind_dir("alpaca").glob("*/alpaca_eval/result.json"))}


def unreadable_manifests(run_dir: Path) -> list[str]:
    """Stage folders whose manifest.json exists but is not a readable manifest: reported by
    `srlm status`, the summary and the report instead of being left out without a word."""
    return [str(p.parent.relative_to(run_dir)) for p in sorted(Path(run_dir).glob("**/manifest.json"))
            if _load(p) is None]


def collect(run_dir: Path) -> dict:
    run_dir = Path(run_dir)
    out: dict = {"run_dir": str(run_dir), "stages": {}, "iterations": [], "unreadable": unreadable_manifests(run_dir)}
    for d in _manifests(run_dir, "**/manifest.json"):
        out["stages"][d["stage"]] = {
            "seconds": d["seconds"],
            "outputs": {k: v.get("count") for k, v in d["outputs"].items()},
        }
    for t in RunLayout(run_dir).iterations():
        row: dict = {"iteration": t, "model": f"M{t - 1}", "next_model": f"M{t}"}
        if (pm := _manifest(run_dir, iteration_stage(t, "prompts"))):
            row["prompts_kept"] = pm["stats"]["kept"]
            row["prompt_filter_counts"] = pm["stats"]["filter_counts"]
        if (cm := _manifest(run_dir, iteration_stage(t, "candidates"))):
            row["candidates"] = cm["stats"]["candidates"]
            row["mean_response_chars"] = round(cm["stats"]["mean_length_chars"], 1)
        if (jm := _manifest(run_dir, iteration_stage(t, "judge"))):
            row["judge_parse_rate"] = round(jm["stats"]["parse_rate"], 4)
            row["judge_failures"] = jm["stats"]["failures"]
            row["score_histogram"] = jm["stats"]["score_histogram"]
            row["score_length_spearman"] = jm["stats"].get("score_length_spearman")
            row["within_candidate_spread"] = jm["stats"].get("mean_within_candidate_spread")
        if (pa := _manifest(run_dir, iteration_stage(t, "pairs"))):
            row["pairs"] = pa["stats"].get("pairs", 0)
            row["judge_pairs"] = pa["stats"].get("judge_pairs")
            row["pair_drops"] = {k: v for k, v in pa["stats"].items() if k.startswith("dropped")}
            row["guard"] = pa["stats"].get("guard")
        if (dm := _manifest(run_dir, iteration_stage(t, "dpo"))):
            row["dpo"] = {
                k: dm["stats"].get(k) for k in ("steps", "kept", "first_loss", "last_loss", "last_reward_margin")
            }
        out["iterations"].append(row)
    if (em := _manifest(run_dir, "eft")):
        out["eft_builder"] = em["stats"]
        sm = _manifest(run_dir, "sft")
        out["eft_builder"]["used_for_training"] = bool(
            sm and sm["inputs"]["eft_train"]["path"].endswith("eft/eft_train.jsonl")
        )
    out["reward_model"] = {}
    for d in _manifests(RunLayout(run_dir).eval_kind_dir("rm"), "*/manifest.json"):
        out["reward_model"][d["stats"]["model"]] = {"parse_rate": d["stats"]["parse_rate"], **d["stats"]["metrics"],
                                                    "baselines": d["stats"].get("baselines")}
    return out


def strategy_comparison(run_dir: Path) -> list[dict]:
    """Every pairs.strategy applied to each finished iteration's own candidates and scores (no
    model runs): pairs kept, mean chosen and rejected length, their ratio, the mean CREAM
    weight. cream, cream_judge and temporal only where their extra stages' files exist
    (iter_t/logprob_*, judge_previous, the temporal answers). What the run trained on is the
    strategy its pairs stage used; the others are what it would have."""
    from .artifacts import read_jsonl
    from .config import PAIR_STRATEGIES, PairsConfig
    from .schemas import Candidate, CandidateScore
    rows = []
    layout = RunLayout(Path(run_dir))
    for t in layout.iterations():
        pm = _manifest(layout.root, iteration_stage(t, "pairs"))
        answers = layout.iteration_output(t, "candidates", "candidates.jsonl")
        judged = layout.iteration_output(t, "judge", "scores.jsonl")
        # only where the pairs stage finished on answers and scores still there (a stage re-run
        # alone, or a run directory being rebuilt, may lack them)
        if pm is None or not (answers.exists() and judged.exists()):
            continue
        cands, scores = read_jsonl(answers, Candidate), read_jsonl(judged, CandidateScore)
        # the settings the pairs stage ran with, so the row marked trained is what DPO got
        # (keys of an older version's pairs section are left out)
        recorded = pm["config"].get("pairs", {})
        used = PairsConfig(**{k: v for k, v in recorded.items() if k in PairsConfig.__dataclass_fields__})
        for strategy in PAIR_STRATEGIES:
            pairs = _strategy_pairs(layout, t, strategy, cands, scores, used)
            if pairs is not None:
                rows.append(_pair_lengths(t, strategy, pairs, strategy == used.strategy))
    return rows


def _strategy_pairs(layout: RunLayout, t: int, strategy: str, cands: list, scores: list, used) -> list | None:
    """`strategy`'s pairs from iteration t's files; None where a file it needs is not there."""
    from .artifacts import read_jsonl
    from .pairs import build_pairs, cream_pairs, cream_rewards, cream_weights, temporal_pairs
    from .schemas import Candidate, CandidateScore, ReplyLogprob
    if strategy == "temporal":
        temporal = _temporal_files(layout, t)
        if not temporal:
            return None
        anchor, future = ((read_jsonl(c, Candidate), read_jsonl(x, CandidateScore)) for c, x in temporal)
        return temporal_pairs(cands, scores, anchor, future, used.min_valid_candidates)[0]
    if strategy == "cream":
        files = [layout.iteration_output(t, f"logprob_{who}", "logprobs.jsonl") for who in ("policy", "previous")]
        older = layout.iteration_output(t, "logprob_older", "logprobs.jsonl")
        if not all(f.exists() for f in files):
            return None
        policy, previous = (read_jsonl(f, ReplyLogprob) for f in files)
        older_rows = read_jsonl(older, ReplyLogprob) if older.exists() else None
        return cream_pairs(cands, *cream_rewards(policy, previous, older_rows), used.cream_average)[0]
    pairs, _ = build_pairs(cands, scores, min_valid=used.min_valid_candidates, strategy=strategy,
                           length_rho=used.length_rho)
    if strategy == "cream_judge":
        prev = layout.iteration_output(t, "judge_previous", "scores.jsonl")
        if not prev.exists():
            return None
        pairs, _ = cream_weights(pairs, scores, read_jsonl(prev, CandidateScore), used.cream_average)
    return pairs


def _temporal_files(layout: RunLayout, t: int) -> list[tuple[Path, Path]] | None:
    """(candidates, scores) of the anchor answers (the policy's own at iteration 2) and of the
    future model's, where a temporal run wrote them."""
    def answered(who: str) -> tuple[Path, Path]:
        return (layout.iteration_output(t, f"{who}candidates", "candidates.jsonl"),
                layout.iteration_output(t, f"{who}judge", "scores.jsonl"))
    anchor = answered("anchor_")
    if not anchor[0].exists():
        anchor = answered("")
    future = answered("future_")
    return [anchor, future] if all(p.exists() for p in (*anchor, *future)) else None


def _pair_lengths(t: int, strategy: str, pairs: list, trained: bool) -> dict:
    n = len(pairs)
    chosen = sum(len(p.chosen[0].content) for p in pairs) / n if n else None
    rejected = sum(len(p.rejected[0].content) for p in pairs) / n if n else None
    return {"iteration": t, "strategy": strategy, "trained": trained, "pairs": n, "chosen_chars": chosen,
            "rejected_chars": rejected, "length_ratio": chosen / rejected if n and rejected else None,
            "mean_weight": sum(p.weight for p in pairs) / n if n else None}


GUARD_COLUMNS = {"tie_rate": "tie rate", "top_score_share": "top-score share", "score_inflation": "score inflation",
                 "length_ratio": "chosen/rejected length", "length_growth": "length growth",
                 "agreement_drop": "human-agreement drop", "reference_agreement": "frozen-judge agreement"}


def guard_md(iterations: list[dict]) -> list[str]:
    guarded = [r for r in iterations if r.get("guard")]
    if not guarded:
        return []
    lines = ["", "Guards before DPO (guard.*, run.guard; a crossed threshold is marked !):", "",
             "| iteration | " + " | ".join(GUARD_COLUMNS.values()) + " | judge accuracy on eval trees | action |",
             "|---" * (len(GUARD_COLUMNS) + 3) + "|"]
    for r in guarded:
        g = r["guard"]
        c = g["checks"]
        cells = [("-" if k not in c or c[k]["value"] is None else f"{c[k]['value']:.2f}")
                 + (" !" if c.get(k, {}).get("crossed") else "") for k in GUARD_COLUMNS]
        acc = g["figures"].get("reference_accuracy")
        action = "rolled back (M_t = M_t-1)" if g.get("rolled_back") else g.get("mode", "warn") if g["crossed"] else "-"
        lines.append(
            f"| {r['iteration']} | " + " | ".join(cells) + f" | {'-' if acc is None else f'{acc:.2f}'} | {action} |"
        )
    return lines


def strategy_md(rows: list[dict]) -> list[str]:
    def num(x, fmt="{:.1f}"):
        return "-" if x is None else fmt.format(x)
    if not rows:
        return []
    return [
        "",
        "Pair strategies side by side on each iteration's own answers and scores (pairs.strategy; "
        "* = what DPO trained on):",
        "",
        "| iteration | strategy | pairs | chosen chars | rejected chars | chosen/rejected | mean weight |",
        "|---|---|---|---|---|---|---|",
    ] + [
        f"| {r['iteration']} | {r['strategy']}{' *' if r['trained'] else ''} | {r['pairs']} | "
        f"{num(r['chosen_chars'])} | "
        f"{num(r['rejected_chars'])} | {num(r['length_ratio'], '{:.2f}')} | {num(r['mean_weight'], '{:.2f}')} |"
        for r in rows
    ]


def _drops(d):
    if d is None:
        return "-"
    return ", ".join(f"{v} {k.removeprefix('dropped_').replace('_', ' ')}" for k, v in d.items()) or "none dropped"


def _f(x, pct=False):
    if x is None:
        return "-"
    return f"{100 * x:.1f}" if pct else f"{x:.3f}"


def rm_table(rm: dict) -> list[str]:
    from .rm_metrics import PAPER_TABLE4
    lines = [
        "| model | judge parse % | pairwise acc % | 5-best % | exact match % | Spearman | Kendall τ | paper "
        "(pairwise / 5-best / exact / ρ / τ) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    paper_row = {"SFT-IFT": "SFT baseline"}
    for label, r in sorted(rm.items(), key=lambda kv: (kv[0] != "SFT-IFT", kv[0])):
        p = PAPER_TABLE4.get(paper_row.get(label, label))
        ref = (
            f"{p['pairwise_accuracy']} / {p['five_best']} / {p['exact_match']} / {p['spearman']} / {p['kendall']}"
            if p
            else "-"
        )
        lines.append(
            f"| {label} | {_f(r['parse_rate'], True)} | {_f(r['pairwise_accuracy'], True)} | "
            f"{_f(r['five_best'], True)} | "
            f"{_f(r['exact_match'], True)} | {_f(r['spearman'])} | {_f(r['kendall'])} | {ref} |"
        )
        b = r.get("baselines")
        for name, what in (("random", "random judge"), ("length", "longer is better")):
            if b and b.get(name):
                m = b[name]
                lines.append(f"| ↳ {what}, same {b['rows']} replies | | {_f(m['pairwise_accuracy'], True)} | "
                             f"{_f(m['five_best'], True)} | {_f(m['exact_match'], True)} | {_f(m['spearman'])} | "
                             f"{_f(m['kendall'])} | |")
    return lines


def _eft_use(eb: dict, sft_done: bool) -> str:
    """What M1 trained on, said only of what ran."""
    if not sft_done:
        return "M1 has not been trained yet."
    if eb["used_for_training"]:
        return f"M1 trained on these {eb['eft_train']} examples." if eb["eft_train"] else \
            "M1 trained on none: the builder kept no example, so M1 is an IFT-only model."
    return "M1 trained on the shipped demo EFT instead (seed.eft_source=demo)."


def _pairs_cell(r: dict) -> str:
    """Answer pairs, and the judgement pairs that joined them (judge.meta)."""
    n = str(r.get("pairs", "-"))
    return n + (f" + {r['judge_pairs']} judgement" if r.get("judge_pairs") is not None else "")


def _eft_line(eb: dict, sft_ran: bool) -> str:
    return (f"EFT builder (IFT-only SFT model judging {eb['ranked_prompts']} human-ranked prompts, "
            f"{eb['replies_judged']} replies): parse rate {eb['parse_rate']:.3f}, {eb.get('prompts_agree', 0)} "
            f"prompts agree with the human ranking, {eb.get('prompts_disagree', 0)} do not; kept "
            f"{eb['after_rebalance']} examples after rebalancing ({eb['eft_train']} train / {eb['eft_eval']} eval). "
            + _eft_use(eb, sft_ran))


def write_summary(run_dir: Path) -> Path:
    s = collect(run_dir)
    lines = [
        "# srlm-nemo run summary",
        "",
        f"Run directory: `{s['run_dir']}`",
        "",
        *([f"**Unreadable manifests** (these stages count as not done): {', '.join(s['unreadable'])}", ""]
          if s["unreadable"] else []),
        "| iteration | judged by | prompts kept | candidates | mean response chars | judge parse rate | pairs | "
        "pair drops | DPO steps |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in s["iterations"]:
        lines.append(
            f"| {r['iteration']} ({r['model']}→{r['next_model']}) | {r['model']} | {r.get('prompts_kept', '-')} | "
            f"{r.get('candidates', '-')} | {r.get('mean_response_chars', '-')} | {r.get('judge_parse_rate', '-')} | "
            f"{_pairs_cell(r)} | {_drops(r.get('pair_drops'))} | {(r.get('dpo') or {}).get('steps', '-')} |"
        )
    lines += ["", "Judge failures per iteration (unparseable or out-of-range judgements are dropped):", ""]
    for r in s["iterations"]:
        lines.append(f"- iteration {r['iteration']}: failures {r.get('judge_failures', {})}, "
                     f"score histogram {r.get('score_histogram', {})}, mean spread of the K scores per answer "
                     f"{r.get('within_candidate_spread')}, score~length Spearman "
                     f"{r.get('score_length_spearman')}, prompt filters {r.get('prompt_filter_counts', {})}")
    lines += guard_md(s["iterations"])
    s["pair_strategies"] = strategy_comparison(run_dir)
    write_json(Path(run_dir) / "summary.json", s)
    lines += strategy_md(s["pair_strategies"])
    if (eb := s.get("eft_builder")):
        lines += ["", _eft_line(eb, "sft" in s["stages"])]
    if s["reward_model"]:
        lines += ["", "Reward modelling on the held-out ranked replies (seed/eval_trees.jsonl); the paper's Table 4 "
                  "(Llama 2 70B on OASST) for reference:", ""] + rm_table(s["reward_model"])
    lines += ["", "| stage | seconds | records |", "|---|---|---|"]
    for name, st in s["stages"].items():
        lines.append(f"| {name} | {st['seconds']} | {st['outputs']} |")
    lines.append(f"| **all stages** | {round(sum(st['seconds'] for st in s['stages'].values()), 1)} | |")
    path = RunLayout(Path(run_dir)).summary
    path.write_text("\n".join(lines) + "\n")
    return path
