"""`<run_dir>/report/`: a Markdown page and PNG panels, rebuilt from manifests and training logs.

Refreshed after every stage by `srlm run` and on demand by `srlm report RUN_DIR`. Loads no model.
"""
from __future__ import annotations

import json
from pathlib import Path

from .run_layout import RunLayout, iteration_stage
from .summary import (
    _drops,
    _load,
    _pairs_cell,
    alpaca_scores,
    collect,
    guard_md,
    h2h_results,
    rm_table,
    strategy_comparison,
    strategy_md,
)


def _plt():
    import matplotlib
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    _plt().close(fig)
    return path.name


def _pct(x):
    return "-" if x is None else f"{100 * x:.1f}%"


def _train_log(run_dir: Path, stage: str) -> list[dict]:
    p = RunLayout(run_dir).output(stage, "work/train_log.jsonl")
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.exists() else []


def _stacked(ax, labels: list[str], series: dict[str, list]) -> None:
    bottom = [0] * len(labels)
    for k, vals in series.items():
        ax.bar(labels, vals, bottom=bottom, label=k.removeprefix("dropped_"))
        bottom = [a + b for a, b in zip(bottom, vals)]
    ax.legend(fontsize=7)


# --- panels: each draws one PNG from the summary data and returns (title, file name) --------

def _prompts_panel(its: list[dict], labels: list[str], out: Path):
    """Kept prompts and each filter's drops, per iteration."""
    reasons = sorted({k for r in its for k in r.get("prompt_filter_counts", {}) if k != "seen"})
    fig, ax = _plt().subplots(figsize=(6, 3.2))
    _stacked(ax, labels, {k: [r.get("prompt_filter_counts", {}).get(k, 0) for r in its] for k in reasons})
    ax.set_ylabel("generated prompts")
    ax.set_title("Prompts generated: kept and dropped per filter")
    return "Prompts per filter", _save(fig, out / "prompts_filters.png")


def _judge_panel(its: list[dict], labels: list[str], out: Path):
    fig, (a1, a2) = _plt().subplots(1, 2, figsize=(8, 3.2))
    a1.bar(labels, [r.get("judge_parse_rate") or 0 for r in its])
    a1.set_ylim(0, 1)
    a1.set_title("Judge parse rate")
    width = 0.8 / max(1, len(its))
    for i, r in enumerate(its):
        h = r.get("score_histogram", {})
        xs = sorted(float(k) for k in h)
        a2.bar([x + i * width for x in xs], [h[str(x)] if str(x) in h else h.get(f"{x}", 0) for x in xs],
               width=width, label=labels[i])
    a2.set_title("Judge scores (valid samples)")
    a2.set_xlabel("score")
    a2.legend(fontsize=7)
    return "Judge parse rate and scores", _save(fig, out / "judge.png")


def _pairs_panel(its: list[dict], labels: list[str], out: Path):
    drops = sorted({k for r in its for k in (r.get("pair_drops") or {})})
    series = {"pairs": [r.get("pairs") or 0 for r in its]}
    series.update({k: [(r.get("pair_drops") or {}).get(k, 0) for r in its] for k in drops})
    fig, ax = _plt().subplots(figsize=(6, 3.2))
    _stacked(ax, labels, series)
    ax.set_title("Prompts: paired or dropped")
    return "Pairs and drop reasons", _save(fig, out / "pairs.png")


def _dpo_panel(its: list[dict], run_dir: Path, out: Path):
    fig, (a1, a2) = _plt().subplots(1, 2, figsize=(8, 3.2))
    for r in its:
        log = [x for x in _train_log(run_dir, iteration_stage(r["iteration"], "dpo")) if "loss" in x]
        if log:
            steps = [x["step"] for x in log]
            a1.plot(steps, [x["loss"] for x in log], marker=".", label=f"it{r['iteration']}")
            a2.plot(steps, [x.get("rewards/margins", 0) for x in log], marker=".", label=f"it{r['iteration']}")
    a1.set_title("DPO loss")
    a2.set_title("DPO reward margin")
    for a in (a1, a2):
        a.set_xlabel("step")
        if a.lines:
            a.legend(fontsize=7)
    return "DPO loss and reward margin", _save(fig, out / "dpo.png")


def _length_panel(its: list[dict], out: Path):
    fig, ax = _plt().subplots(figsize=(6, 3.2))
    ax.plot([r["model"] for r in its], [r.get("mean_response_chars") or 0 for r in its], marker="o")
    ax.set_ylabel("mean response length (chars)")
    ax.set_title("Response length by model (paper: 1,092 → 1,552 → 2,552)")
    return "Response length", _save(fig, out / "response_length.png")


def _reward_model_panel(rm: dict, out: Path):
    from .rm_metrics import PAPER_TABLE4
    keys = ["pairwise_accuracy", "five_best", "exact_match", "spearman", "kendall"]
    models = sorted(rm, key=lambda m: (m != "SFT-IFT", m))
    fig, axes = _plt().subplots(1, len(keys), figsize=(12, 3))
    for ax, k in zip(axes, keys):
        scale = 100 if k in keys[:3] else 1
        ax.bar([i - 0.2 for i in range(len(models))], [(rm[m].get(k) or 0) * scale for m in models], width=0.4,
               label="this run")
        paper = [PAPER_TABLE4.get("SFT baseline" if m == "SFT-IFT" else m, {}).get(k, 0) for m in models]
        ax.bar([i + 0.2 for i in range(len(models))], paper, width=0.4, label="paper (70B)")
        ax.set_xticks(range(len(models)), models, fontsize=7)
        ax.set_title(k, fontsize=8)
    axes[0].legend(fontsize=6)
    return "Reward modelling vs the paper's Table 4", _save(fig, out / "reward_model.png")


def _h2h_panel(h2h: list[dict], out: Path):
    fig, ax = _plt().subplots(figsize=(6, max(2.4, 0.8 + 0.5 * len(h2h))))
    names = [f"{h['a']} vs {h['b']}" for h in h2h]
    left = [0.0] * len(h2h)
    for k in ("win", "tie", "loss"):
        vals = [h[k] / h["prompts"] if h["prompts"] else 0 for h in h2h]
        ax.barh(names, vals, left=left, label=k)
        left = [a + b for a, b in zip(left, vals)]
    ax.set_xlim(0, 1)
    ax.legend(fontsize=7, ncol=3)
    ax.set_title("Head-to-head outcomes")
    return "Head-to-head", _save(fig, out / "head_to_head.png")


def _t(label: str) -> int | None:
    return int(label[1:]) if label[:1] == "M" and label[1:].isdigit() else None


def _win_rates_panel(scored: dict, h2h: list[dict], out: Path):
    """AlpacaEval win rate per model (the paper's beside) and M_t vs M_(t-1), across iterations."""
    from .evaluate import PAPER_ALPACA
    alpaca = sorted((_t(m), r["win_rate"], r["comparable"]) for m, r in scored.items()
                    if _t(m) is not None and r["win_rate"] is not None)
    vs_prev = sorted((_t(h["a"]), 100 * h["win_rate_ties_half"]) for h in h2h
                     if _t(h["a"]) is not None and _t(h["b"]) == _t(h["a"]) - 1 and h["win_rate_ties_half"] is not None)
    if not (alpaca or vs_prev):
        return None
    fig, ax = _plt().subplots(figsize=(6, 3.4))
    if alpaca:
        comparable = all(c for _, _, c in alpaca)
        ax.plot([f"M{t}" for t, _, _ in alpaca], [w for _, w, _ in alpaca], marker="o",
                label="AlpacaEval win rate, this run" + ("" if comparable else " (NOT leaderboard-comparable)"))
    ax.plot(["M1", "M2", "M3"], [PAPER_ALPACA[m] for m in ("M1", "M2", "M3")], marker="s", linestyle="--",
            label="AlpacaEval 2.0, paper (70B)")
    if vs_prev:
        ax.plot([f"M{t}" for t, _ in vs_prev], [w for _, w in vs_prev], marker="^",
                label="head-to-head vs previous model (ties half)")
    ax.set_ylabel("win rate (%)")
    ax.set_title("Win rates across iterations")
    ax.legend(fontsize=6)
    return "Win rates across iterations", _save(fig, out / "win_rates.png")


# --- the page's tables -----------------------------------------------------------------------

def _iterations_md(its: list[dict]) -> list[str]:
    md = ["## Iterations", "", "| iteration | prompts kept | candidates | judge parse rate | pairs | drops | "
          "mean response chars |", "|---|---|---|---|---|---|---|"]
    return md + [f"| {r['iteration']} ({r['model']}→{r['next_model']}) | {r.get('prompts_kept', '-')} | "
                 f"{r.get('candidates', '-')} | {r.get('judge_parse_rate', '-')} | {_pairs_cell(r)} | "
                 f"{_drops(r.get('pair_drops'))} | {r.get('mean_response_chars', '-')} |" for r in its]


def _h2h_md(h2h: list[dict]) -> list[str]:
    return ["Head-to-head (each pair judged in both orders; disagreement = tie):", "",
            "| A | B | judge | win | tie | loss | A win rate (ties half) |", "|---|---|---|---|---|---|---|"] + [
        f"| {h['a']} | {h['b']} | {h['judge']} | {h['win']} | {h['tie']} | {h['loss']} | "
        f"{_pct(h['win_rate_ties_half'])} |" for h in h2h]


def _round(x, n=2):
    return x if x is None else round(x, n)


def _alpaca_md(run_dir: Path, written: list[Path], scored: dict) -> list[str]:
    from .evaluate import PAPER_ALPACA
    md = ["", "AlpacaEval answers written: " + ", ".join(f"`{p.relative_to(run_dir)}`" for p in written)
          + (" (score them with `eval.alpaca_annotator=...`)" if not scored else "")]
    if scored:
        md += ["", "| model | win rate | LC win rate | n | annotator | reference | comparable with the leaderboard |",
               "|---|---|---|---|---|---|---|"]
        md += [
            f"| {m} | {_round(r['win_rate'])} | {_round(r['length_controlled_win_rate'])} | {int(r['n_total'] or 0)} | "
            f"{r['annotator']} | {r['reference']} | {'yes' if r['comparable'] else 'NO'} |"
            for m, r in scored.items()
        ]
    return md + [
        "",
        "Paper, AlpacaEval 2.0 win rate vs GPT-4 Turbo: " + ", ".join(f"{k} {v}" for k, v in PAPER_ALPACA.items()),
    ]


def _mtbench_md(mt: list[dict]) -> list[str]:
    md = ["", "MT-Bench (single-answer grading, 1-10, by the configured judge; only a GPT-4 judge is comparable "
          "with published MT-Bench scores):", "", "| model | judge | score | turn 1 | turn 2 | valid judgments |",
          "|---|---|---|---|---|---|"]
    return md + [f"| {m['model']} | {m['judge']} | {_round(m['score'])} | {m['score_by_turn'].get('1', '-')} | "
                 f"{m['score_by_turn'].get('2', '-')} | {m['valid']}/{m['judgments']} |" for m in mt]


def _mt_results(run_dir: Path) -> list[dict]:
    out = []
    for p in sorted(RunLayout(run_dir).eval_kind_dir("mt_bench").glob("*/manifest.json")):
        if (m := _load(p)) is not None:
            out.append(m["stats"] | {"model": m["model"]})
    return out


def write_report(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    out = RunLayout(run_dir).report_dir
    out.mkdir(parents=True, exist_ok=True)
    s = collect(run_dir)
    its, rm = s["iterations"], s["reward_model"]
    labels = [f"it{r['iteration']}" for r in its]
    h2h, scored, mt = h2h_results(run_dir), alpaca_scores(run_dir), _mt_results(run_dir)
    written = sorted(RunLayout(run_dir).eval_kind_dir("alpaca").glob("*/model_outputs.json"))
    panels = []
    if its:
        panels += [_prompts_panel(its, labels, out), _judge_panel(its, labels, out), _pairs_panel(its, labels, out),
                   _dpo_panel(its, run_dir, out), _length_panel(its, out)]
    if rm:
        panels.append(_reward_model_panel(rm, out))
    if h2h:
        panels.append(_h2h_panel(h2h, out))
    panels.append(_win_rates_panel(scored, h2h, out))

    md = ["# srlm-nemo report", "", f"Run: `{run_dir}`", ""]
    if s["unreadable"]:
        md += [f"**Unreadable manifests** (these stages count as not done): {', '.join(s['unreadable'])}", ""]
    md += _iterations_md(its) + guard_md(its)
    md += strategy_md(strategy_comparison(run_dir))
    if rm:
        md += ["", "## Reward modelling", ""] + rm_table(rm)
    md += ["", "## Win rates", ""] + (_h2h_md(h2h) if h2h else [])
    md += _alpaca_md(run_dir, written, scored) if written else []
    md += _mtbench_md(mt) if mt else []
    if not (h2h or written or mt):
        md += ["No head-to-head, AlpacaEval or MT-Bench evaluation has been run for this run directory yet "
               "(`srlm eval h2h`, `srlm eval alpaca`, `srlm eval mtbench`)."]
    for title, png in (p for p in panels if p):
        md += ["", f"## {title}", "", f"![{title}]({png})"]
    page = out / "index.md"
    page.write_text("\n".join(md) + "\n")
    return page
