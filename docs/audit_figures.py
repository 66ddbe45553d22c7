"""Draw the audit guide's galleries from a saved audit folder (``tlkit audit ... --output-dir``).

    python docs/audit_figures.py AUDIT_DIR --output-dir docs/_static/audit_caltech101

Three JPEG figures: the first likely wrong labels, the first unusual images (each tile:
given -> suggested class and both probabilities), and duplicate pairs side by side.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image


def _picture(path: str, size: int = 200) -> np.ndarray:
    with Image.open(path) as image:
        picture = image.convert("RGB")
    picture.thumbnail((size, size))
    return np.asarray(picture)


def issues_figure(rows: pd.DataFrame, columns: int = 6) -> Figure:
    count = len(rows)
    lines = int(np.ceil(count / columns))
    figure = Figure(figsize=(2.2 * columns, 2.5 * lines), layout="constrained")
    axes = figure.subplots(lines, columns, squeeze=False).ravel()
    for ax, (rank, row) in zip(axes, rows.iterrows()):
        ax.imshow(_picture(row["path"]))
        ax.set_title(f"#{rank + 1} {row['given'][:16]} ({100 * row['score']:.0f}%)\n"
                     f"-> {row['suggested'][:16]} ({100 * row['suggested_confidence']:.0f}%)",
                     fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[count:]:
        ax.remove()
    return figure


def pairs_figure(pairs: pd.DataFrame, columns: int = 3) -> Figure:
    count = len(pairs)
    lines = int(np.ceil(count / columns))
    figure = Figure(figsize=(4.2 * columns, 2.3 * lines), layout="constrained")
    axes = figure.subplots(lines, 2 * columns, squeeze=False).ravel()
    for k, row in enumerate(pairs.itertuples()):
        for j, (path, given) in enumerate(((row.path_a, row.given_a), (row.path_b, row.given_b))):
            ax = axes[2 * k + j]
            ax.imshow(_picture(path))
            ax.set_title(f"{given[:18]}" + (f"  {row.kind} {row.similarity:.3f}" if j == 0 else ""),
                         fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    for ax in axes[2 * count:]:
        ax.remove()
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("audit_dir", type=Path)
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--count", type=int, default=12)
    args = parser.parse_args()
    issues = pd.read_csv(args.audit_dir / "label_issues.csv", keep_default_na=False)
    pairs = pd.read_csv(args.audit_dir / "duplicates.csv", keep_default_na=False)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for verdict, name in (("wrong label", "wrong_labels.jpg"), ("unusual image", "unusual.jpg")):
        chosen = issues[issues["verdict"] == verdict].head(args.count)
        issues_figure(chosen).savefig(args.output_dir / name, dpi=70, pil_kwargs={"quality": 75})
    # Pairs that matter first: across classes, then within one.
    order = pairs.sort_values(["classes", "similarity"], ascending=[True, False], kind="stable")
    pairs_figure(order.head(args.count)).savefig(args.output_dir / "duplicates.jpg", dpi=70,
                                             pil_kwargs={"quality": 75})


if __name__ == "__main__":
    main()
