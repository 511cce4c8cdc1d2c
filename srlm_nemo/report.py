"""`<run_dir>/report/`: a Markdown page and PNG panels, rebuilt from manifests and training logs.

Refreshed after every stage by `srlm run` and on demand by `srlm report RUN_DIR`. Loads no model.
"""
from __future__ import annotations

import json
from pathlib import Path

from .summary import _drops, alpaca_scores, collect, h2h_results, rm_table


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
    p = run_dir / stage / "work" / "train_log.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.exists() else []


def write_report(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    out = run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    plt = _plt()
    s = collect(run_dir)
    its = s["iterations"]
    md = ["# srlm-nemo report", "", f"Run: `{run_dir}`", ""]
    panels: list[tuple[str, str]] = []

    if its:
        labels = [f"it{r['iteration']}" for r in its]
        # prompts: kept and each drop reason, per iteration
        reasons = sorted({k for r in its for k in r.get("prompt_filter_counts", {}) if k not in ("seen",)})
        fig, ax = plt.subplots(figsize=(6, 3.2))
        bottom = [0] * len(its)
        for k in reasons:
            vals = [r.get("prompt_filter_counts", {}).get(k, 0) for r in its]
            ax.bar(labels, vals, bottom=bottom, label=k.removeprefix("dropped_"))
            bottom = [a + b for a, b in zip(bottom, vals)]
        ax.set_ylabel("generated prompts")
        ax.set_title("Prompts generated: kept and dropped per filter")
        ax.legend(fontsize=7)
        panels.append(("Prompts per filter", _save(fig, out / "prompts_filters.png")))

        # judge: parse rate and score histogram
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.2))
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
        panels.append(("Judge parse rate and scores", _save(fig, out / "judge.png")))

        # pairs and drop reasons
        fig, ax = plt.subplots(figsize=(6, 3.2))
        kinds = ["pairs"] + sorted({k for r in its for k in (r.get("pair_drops") or {})})
        bottom = [0] * len(its)
        for k in kinds:
            vals = [(r.get("pairs") or 0) if k == "pairs" else (r.get("pair_drops") or {}).get(k, 0) for r in its]
            ax.bar(labels, vals, bottom=bottom, label=k.removeprefix("dropped_"))
            bottom = [a + b for a, b in zip(bottom, vals)]
        ax.set_title("Prompts: paired or dropped")
        ax.legend(fontsize=7)
        panels.append(("Pairs and drop reasons", _save(fig, out / "pairs.png")))

        # DPO curves
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.2))
        for r in its:
            log = [x for x in _train_log(run_dir, f"iter_{r['iteration']}/dpo") if "loss" in x]
            if log:
                a1.plot([x["step"] for x in log], [x["loss"] for x in log], marker=".", label=f"it{r['iteration']}")
                a2.plot([x["step"] for x in log], [x.get("rewards/margins", 0) for x in log], marker=".",
                        label=f"it{r['iteration']}")
        a1.set_title("DPO loss")
        a2.set_title("DPO reward margin")
        for a in (a1, a2):
            a.set_xlabel("step")
            if a.lines:
                a.legend(fontsize=7)
        panels.append(("DPO loss and reward margin", _save(fig, out / "dpo.png")))

        # response length per model
        fig, ax = plt.subplots(figsize=(6, 3.2))
        ax.plot([r["model"] for r in its], [r.get("mean_response_chars") or 0 for r in its], marker="o")
        ax.set_ylabel("mean response length (chars)")
        ax.set_title("Response length by model (paper: 1,092 → 1,552 → 2,552)")
        panels.append(("Response length", _save(fig, out / "response_length.png")))

    if s["reward_model"]:
        from .rm_metrics import PAPER_TABLE4
        keys = ["pairwise_accuracy", "five_best", "exact_match", "spearman", "kendall"]
        models = sorted(s["reward_model"], key=lambda m: (m != "SFT-IFT", m))
        fig, axes = plt.subplots(1, len(keys), figsize=(12, 3))
        for ax, k in zip(axes, keys):
            scale = 100 if k in keys[:3] else 1
            ours = [(s["reward_model"][m].get(k) or 0) * scale for m in models]
            ax.bar([i - 0.2 for i in range(len(models))], ours, width=0.4, label="this run")
            paper = [PAPER_TABLE4.get("SFT baseline" if m == "SFT-IFT" else m, {}).get(k, 0) for m in models]
            ax.bar([i + 0.2 for i in range(len(models))], paper, width=0.4, label="paper (70B)")
            ax.set_xticks(range(len(models)), models, fontsize=7)
            ax.set_title(k, fontsize=8)
        axes[0].legend(fontsize=6)
        panels.append(("Reward modelling vs the paper's Table 4", _save(fig, out / "reward_model.png")))

    md += ["## Iterations", ""]
    md += ["| iteration | prompts kept | candidates | judge parse rate | pairs | drops | mean response chars |",
           "|---|---|---|---|---|---|---|"]
    for r in its:
        md.append(f"| {r['iteration']} ({r['model']}→{r['next_model']}) | {r.get('prompts_kept', '-')} | "
                  f"{r.get('candidates', '-')} | {r.get('judge_parse_rate', '-')} | {r.get('pairs', '-')} | "
                  f"{_drops(r.get('pair_drops'))} | {r.get('mean_response_chars', '-')} |")
    if s["reward_model"]:
        md += ["", "## Reward modelling", ""] + rm_table(s["reward_model"])
    md += ["", "## Win rates", ""]
    h2h = h2h_results(run_dir)
    if h2h:
        md += ["Head-to-head (each pair judged in both orders; disagreement = tie):", "",
               "| A | B | judge | win | tie | loss | A win rate (ties half) |", "|---|---|---|---|---|---|---|"]
        md += [f"| {h['a']} | {h['b']} | {h['judge']} | {h['win']} | {h['tie']} | {h['loss']} | "
               f"{_pct(h['win_rate_ties_half'])} |" for h in h2h]
        fig, ax = plt.subplots(figsize=(6, max(2.4, 0.8 + 0.5 * len(h2h))))
        names = [f"{h['a']} vs {h['b']}" for h in h2h]
        left = [0.0] * len(h2h)
        for k in ("win", "tie", "loss"):
            vals = [h[k] / h["prompts"] if h["prompts"] else 0 for h in h2h]
            ax.barh(names, vals, left=left, label=k)
            left = [a + b for a, b in zip(left, vals)]
        ax.set_xlim(0, 1)
        ax.legend(fontsize=7, ncol=3)
        ax.set_title("Head-to-head outcomes")
        panels.append(("Head-to-head", _save(fig, out / "head_to_head.png")))
    alpaca = sorted((run_dir / "eval" / "alpaca").glob("*/model_outputs.json"))
    scored = alpaca_scores(run_dir)
    if alpaca:
        from .evaluate import PAPER_ALPACA
        md += ["", "AlpacaEval answers written: " + ", ".join(f"`{p.relative_to(run_dir)}`" for p in alpaca)
               + (" (score them with `eval.alpaca_annotator=...`)" if not scored else "")]
        if scored:
            md += ["", "| model | win rate | LC win rate | n | annotator | reference | comparable with the leaderboard |",
                   "|---|---|---|---|---|---|---|"]
            md += [f"| {m} | {r['win_rate'] if r['win_rate'] is None else round(r['win_rate'], 2)} | "
                   f"{r['length_controlled_win_rate'] if r['length_controlled_win_rate'] is None else round(r['length_controlled_win_rate'], 2)} | "
                   f"{int(r['n_total'] or 0)} | {r['annotator']} | {r['reference']} | {'yes' if r['comparable'] else 'NO'} |"
                   for m, r in scored.items()]
        md += ["", "Paper, AlpacaEval 2.0 win rate vs GPT-4 Turbo: "
               + ", ".join(f"{k} {v}" for k, v in PAPER_ALPACA.items())]
    # across iterations: AlpacaEval win rate per model (paper beside) and M_t vs M_(t-1) head-to-head
    def _t(label):
        return int(label[1:]) if label[:1] == "M" and label[1:].isdigit() else None
    series_alpaca = sorted((_t(m), r["win_rate"], r["comparable"]) for m, r in scored.items()
                           if _t(m) is not None and r["win_rate"] is not None)
    series_h2h = sorted((_t(h["a"]), 100 * h["win_rate_ties_half"]) for h in h2h
                        if _t(h["a"]) is not None and _t(h["b"]) == _t(h["a"]) - 1 and h["win_rate_ties_half"] is not None)
    if series_alpaca or series_h2h:
        from .evaluate import PAPER_ALPACA
        fig, ax = plt.subplots(figsize=(6, 3.4))
        if series_alpaca:
            comparable = all(c for _, _, c in series_alpaca)
            ax.plot([f"M{t}" for t, _, _ in series_alpaca], [w for _, w, _ in series_alpaca], marker="o",
                    label="AlpacaEval win rate, this run" + ("" if comparable else " (NOT leaderboard-comparable)"))
        ax.plot(["M1", "M2", "M3"], [PAPER_ALPACA[m] for m in ("M1", "M2", "M3")], marker="s", linestyle="--",
                label="AlpacaEval 2.0, paper (70B)")
        if series_h2h:
            ax.plot([f"M{t}" for t, _ in series_h2h], [w for _, w in series_h2h], marker="^",
                    label="head-to-head vs previous model (ties half)")
        ax.set_ylabel("win rate (%)")
        ax.set_title("Win rates across iterations")
        ax.legend(fontsize=6)
        panels.append(("Win rates across iterations", _save(fig, out / "win_rates.png")))
    mt = [json.loads(m.read_text())["stats"] | {"model": json.loads(m.read_text())["model"]}
          for m in sorted((run_dir / "eval" / "mt_bench").glob("*/manifest.json"))]
    if mt:
        md += ["", "MT-Bench (single-answer grading, 1-10, by the configured judge; only a GPT-4 judge is comparable "
               "with published MT-Bench scores):", "", "| model | judge | score | turn 1 | turn 2 | valid judgments |",
               "|---|---|---|---|---|---|"]
        md += [f"| {m['model']} | {m['judge']} | {m['score'] if m['score'] is None else round(m['score'], 2)} | "
               f"{m['score_by_turn'].get('1', '-')} | {m['score_by_turn'].get('2', '-')} | {m['valid']}/{m['judgments']} |"
               for m in mt]
    if not h2h and not alpaca and not mt:
        md += ["No head-to-head, AlpacaEval or MT-Bench evaluation has been run for this run directory yet "
               "(`srlm eval h2h`, `srlm eval alpaca`, `srlm eval mtbench`)."]
    for title, png in panels:
        md += ["", f"## {title}", "", f"![{title}]({png})"]
    page = out / "index.md"
    page.write_text("\n".join(md) + "\n")
    return page
