"""Evaluation results written as JSON, a Markdown table and a PNG bar chart."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

Results = dict[str, dict[str, float]]


def markdown_table(results: Results) -> str:
    """Rankers as rows, metrics as columns, three decimals."""
    metrics = list(next(iter(results.values()), {}))
    lines = ["| ranker | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    for ranker, row in results.items():
        lines.append(f"| {ranker} | " + " | ".join(f"{row[m]:.3f}" for m in metrics) + " |")
    return "\n".join(lines) + "\n"


def bar_chart(results: Results, title: str, path: Path) -> Path:
    """Grouped bars: one group per metric, one bar per ranker."""
    metrics = list(next(iter(results.values()), {}))
    width = 0.8 / max(len(results), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(metrics)), 4))
    for i, (ranker, row) in enumerate(results.items()):
        ax.bar([m + i * width for m in range(len(metrics))], [row[m] for m in metrics], width, label=ranker)
    ax.set_xticks([m + width * (len(results) - 1) / 2 for m in range(len(metrics))], metrics)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def code_commit() -> str | None:
    """The commit of the code that produced a report ("+" when the work tree had changes), or
    None outside a git checkout, so every result file says what it measured."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               text=True, capture_output=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+" if dirty else "")


def write_report(results: Results, out_dir: Path, dataset: str, meta: dict[str, Any]) -> dict[str, Path]:
    """Write `<dataset>.json`, `.md` and `.png` into out_dir; return their paths by kind."""
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {"commit": code_commit(), **meta}
    paths = {kind: out_dir / f"{dataset}.{ext}" for kind, ext in (("json", "json"), ("markdown", "md"), ("png", "png"))}
    paths["json"].write_text(json.dumps({"dataset": dataset, "meta": meta, "results": results}, indent=2) + "\n")
    header = f"# {dataset} evaluation\n\n" + "".join(f"- {k}: {v}\n" for k, v in meta.items()) + "\n"
    paths["markdown"].write_text(header + markdown_table(results))
    bar_chart(results, f"{dataset} ({meta.get('model', 'no encoder')})", paths["png"])
    return paths
