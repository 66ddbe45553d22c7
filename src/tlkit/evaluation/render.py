"""The report in words: plain text and Markdown (the HTML page is in :mod:`~tlkit.evaluation.page`)."""

from __future__ import annotations

import pandas as pd

from tlkit.evaluation.metrics import ReportMetrics

__all__ = ["headline", "to_markdown", "to_text"]


def headline(report: ReportMetrics) -> list[tuple[str, str]]:
    """The headline figures as (name, formatted value) rows."""

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.2f} %"

    # One format: counts with thousands separators, every rate in % (F1, a mean of
    # precision and recall, and the calibration error, a gap in accuracy, too).
    return [
        ("samples", f"{report.y_true.size:,}"),
        ("classes", f"{report.num_classes:,}"),
        ("accuracy", pct(report.accuracy)),
        ("top-5 accuracy", pct(report.top5_accuracy)),
        ("mean per-class accuracy", pct(report.balanced_accuracy)),
        ("macro F1", pct(report.macro["f1"])),
        ("weighted F1", pct(report.weighted["f1"])),
        ("expected calibration error", pct(report.expected_calibration_error())),
    ]


def to_text(report: ReportMetrics) -> str:
    """The report as plain text: headline, most confused pairs, scikit-learn's report."""
    width = max(len(name) for name, _ in headline(report))
    lines = ["EvaluationReport"] + [f"  {n:<{width}}  {v}" for n, v in headline(report)]
    confused = report.most_confused(5)
    if len(confused):
        lines.append("  most confused (true -> predicted: count):")
        lines += [f"    {r.true} -> {r.predicted}: {r.count}" for r in confused.itertuples()]
    lines += ["", report.classification_report()]
    return "\n".join(lines)


def to_markdown(report: ReportMetrics) -> str:
    """A Markdown summary: headline figures, most confused pairs, per-class table."""

    def table(frame: pd.DataFrame) -> list[str]:
        header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
        rule = "|" + "|".join("---" for _ in frame.columns) + "|"
        rows = []
        for values in frame.itertuples(index=False):
            cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in values]
            rows.append("| " + " | ".join(cells) + " |")
        return [header, rule, *rows]

    lines = ["# Evaluation report", "", "| metric | value |", "|---|---|"]
    lines += [f"| {n} | {v} |" for n, v in headline(report)]
    confused = report.most_confused(10)
    if len(confused):
        lines += ["", "## Most confused pairs", "", *table(confused)]
    lines += ["", "## Per class", "", *table(report.per_class.reset_index())]
    return "\n".join(lines) + "\n"
