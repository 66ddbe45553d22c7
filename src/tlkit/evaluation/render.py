"""The report in words: plain text, Markdown and one HTML page."""

from __future__ import annotations

import html

import pandas as pd

from tlkit.evaluation.metrics import ReportMetrics

__all__ = ["headline", "to_html", "to_markdown", "to_text"]


def headline(report: ReportMetrics) -> list[tuple[str, str]]:
    """The headline figures as (name, formatted value) rows."""

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.2f} %"

    ece = report.expected_calibration_error()
    return [
        ("samples", str(report.y_true.size)),
        ("classes", str(report.num_classes)),
        ("accuracy", pct(report.accuracy)),
        ("top-5 accuracy", pct(report.top5_accuracy)),
        ("mean per-class accuracy", pct(report.balanced_accuracy)),
        ("macro F1", f"{report.macro['f1']:.4f}"),
        ("weighted F1", f"{report.weighted['f1']:.4f}"),
        ("expected calibration error", "n/a" if ece is None else f"{ece:.4f}"),
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


def to_html(report: ReportMetrics, images: list[str]) -> str:
    """One self-contained HTML page showing the figures in ``images`` (PNG files beside it)."""
    rows = "".join(
        f"<tr><th>{html.escape(n)}</th><td>{html.escape(v)}</td></tr>" for n, v in headline(report)
    )
    confused = report.most_confused(20).to_html(index=False, float_format=lambda v: f"{v:.3f}",
                                                classes="table", border=0)
    per_class = report.per_class.to_html(float_format=lambda v: f"{v:.3f}", classes="table",
                                         border=0)
    figures = "".join(
        f'<figure><img src="{html.escape(n)}" alt="{html.escape(n[:-4].replace("_", " "))}">'
        f"<figcaption>{html.escape(n[:-4].replace('_', ' '))}</figcaption></figure>"
        for n in images
    )
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}th,td{padding:.25em .7em;text-align:left;"
        "border-bottom:1px solid #ddd}img{max-width:100%}figure{margin:1.5em 0}"
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>Evaluation report</title><style>{style}</style></head><body>"
        "<h1>Evaluation report</h1>"
        f"<table>{rows}</table>"
        f"<h2>Figures</h2>{figures}"
        f"<h2>Most confused pairs</h2>{confused}"
        f"<h2>Per class</h2>{per_class}"
        "</body></html>\n"
    )

