"""The report as one HTML page, written for a person: what was evaluated, how well, where
it fails (pictures of the mistakes, the confusions), then every table.

The page is self-contained (styles, a few lines of script to sort the per-class table and
the thumbnails are inline), so it opens from disk or as a CI artifact without a server;
the PNG figures and CSV files it links sit beside it.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from tlkit.evaluation.first_screen import first_screen
from tlkit.evaluation.gallery import thumbnail_uri
from tlkit.evaluation.metrics import ReportMetrics
from tlkit.evaluation.render import headline

__all__ = ["GALLERY_SIZE", "LABEL_ERROR_CONFIDENCE", "LABEL_ERROR_TRUE_PROBABILITY", "PAIRS_SHOWN",
           "html_document", "possible_label_error", "to_html"]

GALLERY_SIZE = 24
"""Most confident mistakes shown as thumbnails on the page (all are in ``predictions.csv``)."""

LABEL_ERROR_CONFIDENCE = 0.9
"""A mistake made with at least this probability ..."""

LABEL_ERROR_TRUE_PROBABILITY = 0.02
"""... giving the true class less than this is marked "possible label error"."""

PAIRS_SHOWN = 20
"""Most-confused pairs listed on the page, each with up to three example thumbnails."""

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1150px;padding:0 1em;color:#222}
h2{margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.8em 0}
th,td{padding:.2em .7em;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
table.sortable th{cursor:pointer;background:#f4f4f4}
table.sortable th:after{content:" \\2195";color:#999}
.context th{font-weight:600;white-space:nowrap}
.gallery{display:flex;flex-wrap:wrap;gap:10px}
.gallery figure{margin:0;width:170px;font-size:.8em}
.gallery img,.examples img{max-width:160px;max-height:160px;display:block}
.examples{display:flex;gap:6px}
.examples img{max-height:72px;max-width:96px}
figure.plot{margin:1em 0}
figure.plot img{max-width:100%}
figcaption{color:#555;font-size:.9em;margin-top:.3em}
.muted{color:#666}
details{margin:.5em 0}
.first{background:#f6f8fa;border:1px solid #e1e4e8;border-radius:6px;padding:.4em 1.2em}
.first .big{font-size:1.5em;margin:.4em 0}
.badge{background:#d62728;color:#fff;border-radius:3px;padding:0 .3em;font-size:.85em}
.gallery figcaption{overflow-wrap:anywhere}
.gallery figcaption a{color:#555}
"""

_SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function(table){
  table.querySelectorAll("th").forEach(function(th, col){
    th.addEventListener("click", function(){
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var up = th.dataset.order !== "asc"; th.dataset.order = up ? "asc" : "desc";
      rows.sort(function(a, b){
        var x = a.cells[col].dataset.value || a.cells[col].textContent;
        var y = b.cells[col].dataset.value || b.cells[col].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
        return up ? c : -c;
      });
      rows.forEach(function(r){ body.appendChild(r); });
    });
  });
});
"""


def possible_label_error(confidence: float, true_probability: float, pair_count: int = 1,
                         ) -> bool:
    """Whether a mistake looks like a wrong label rather than a wrong answer: the model is
    sure of its answer, gives the given label almost nothing, and makes this confusion
    (this true class taken for this answer) only this once.

    Example:
        >>> possible_label_error(0.99, 0.001), possible_label_error(0.99, 0.001, pair_count=3)
        (True, False)
    """
    return (confidence >= LABEL_ERROR_CONFIDENCE and true_probability < LABEL_ERROR_TRUE_PROBABILITY
            and pair_count <= 1)


def _e(value: Any) -> str:
    return html.escape(str(value))


def _context(report: ReportMetrics, written: Mapping[str, str]) -> str:
    rows = []
    for key, value in {**report.context, **written}.items():
        if key == "title":  # it is the page's heading
            continue
        if isinstance(value, Mapping):  # e.g. the run's options: folded, they are long
            inner = "".join(f"<tr><th>{_e(k)}</th><td>{_e(json.dumps(v))}</td></tr>"
                            for k, v in value.items())
            cell = f"<details><summary>{len(value)} settings</summary><table>{inner}</table></details>"
        else:
            cell = _e(value)
        rows.append(f"<tr><th>{_e(key)}</th><td>{cell}</td></tr>")
    return f'<table class="context">{"".join(rows)}</table>'


def _links(files: Sequence[str], links: Mapping[str, str]) -> str:
    """Links to the files beside the page and to the run's own files."""
    own = " · ".join(f'<a href="{_e(name)}">{_e(name)}</a>' for name in files
                     if name.endswith((".csv", ".json", ".md")))
    text = f"<p>Data files: {own}</p>"
    if links:
        text += "<p>This run: " + " · ".join(
            f'<a href="{_e(href)}">{_e(label)}</a>' for label, href in links.items()) + "</p>"
    return text


def _headline(report: ReportMetrics) -> str:
    rows = "".join(f'<tr><th>{_e(n)}</th><td class="num">{_e(v)}</td></tr>'
                   for n, v in headline(report))
    return f"<table>{rows}</table>"


def _thumb(path: str, caption: str, alt: str) -> str:
    uri = thumbnail_uri(path)
    image = f'<img src="{uri}" alt="{_e(alt)}">' if uri else "<p>(unreadable)</p>"
    return f"<figure>{image}<figcaption>{caption}</figcaption></figure>"


def _file_link(path: str) -> str:
    """The file's name, linked to the file when its path is absolute (the page opens from
    disk); a relative path (a report made to be moved) is named, not linked. The whole path
    shows on hover."""
    name, full = _e(Path(path).name), _e(path)
    if not Path(path).is_absolute():
        return f'<span title="{full}">{name}</span>'
    return f'<a href="{_e(Path(path).as_uri())}" title="{full}">{name}</a>'


def _gallery(report: ReportMetrics) -> str:
    if report.paths is None:
        return ""
    wrong = report.mistakes(GALLERY_SIZE)
    if wrong.empty:
        return "<h2>Misclassified images</h2><p>None: every image was classified right.</p>"
    tiles, flagged = [], 0
    # How often each (true, predicted) confusion happens: a look-alike pair recurs, a
    # wrong label is usually alone.
    pair_counts = report.mistakes().groupby(["true", "predicted"]).size()
    for row in wrong.itertuples():
        caption = (f"{_file_link(row.path)}<br>predicted <b>{_e(row.predicted)}</b>"
                   f"<br>true <b>{_e(row.true)}</b>")
        if hasattr(row, "confidence"):
            caption += (f"<br>{100 * row.confidence:.1f} % vs true "
                        f"{100 * row.true_probability:.1f} %; loss {row.loss:.2f}")
            if possible_label_error(row.confidence, row.true_probability,
                                    int(pair_counts[(row.true, row.predicted)])):
                caption += '<br><span class="badge">possible label error</span>'
                flagged += 1
        tiles.append(_thumb(row.path, caption, f"true {row.true}, predicted {row.predicted}"))
    total = int((~report.predictions["correct"]).sum())
    badge = (f" {flagged} of them are marked <i>possible label error</i>: the model gave its "
             f"answer at least {100 * LABEL_ERROR_CONFIDENCE:.0f} %, the given label less "
             f"than {100 * LABEL_ERROR_TRUE_PROBABILITY:.0f} %, and no other image of that "
             f"class was taken for that answer (look-alike classes are confused again and "
             f"again); look at the picture: the label may be what is wrong (tlkit audit ranks "
             f"every image this way).") if flagged else ""
    return (f"<h2>Most confident mistakes</h2><p>The {len(wrong)} misclassified images the "
            f"model was surest about, of {total:,} mistakes in all (every image is in "
            f'<a href="predictions.csv">predictions.csv</a>); under each, the probability of '
            f"the answer and of the true class, and the loss. Look for wrong labels, images "
            f"of two classes at once and classes that are hard to tell apart.{badge}</p>"
            f'<div class="gallery">{"".join(tiles)}</div>')


def _pairs(report: ReportMetrics) -> str:
    pairs = report.most_confused(report.num_classes ** 2)
    if pairs.empty:
        return ""
    listed = pairs[pairs["count"] > 1].head(PAIRS_SHOWN)
    if listed.empty:
        listed = pairs.head(PAIRS_SHOWN)
    wrong = report.mistakes() if report.paths is not None else None
    rows = []
    for row in listed.itertuples():
        examples = ""
        if wrong is not None:
            chosen = wrong[(wrong["true"] == row.true) & (wrong["predicted"] == row.predicted)]
            examples = '<div class="examples">' + "".join(
                f'<img src="{uri}" alt="{_e(row.true)} taken for {_e(row.predicted)}">'
                for path in chosen["path"].head(3) if (uri := thumbnail_uri(path, 96))) + "</div>"
        rows.append(f"<tr><td>{_e(row.true)}</td><td>{_e(row.predicted)}</td>"
                    f'<td class="num">{row.count}</td>'
                    f'<td class="num">{100 * row.fraction_of_true:.1f} %</td>'
                    + (f"<td>{examples}</td>" if wrong is not None else "") + "</tr>")
    rest = pairs.iloc[len(listed):]
    tail = ""
    if len(rest):
        once = int((rest["count"] == 1).sum())
        how = "each confused once" if once == len(rest) else f"{once} of them confused once"
        tail = (f'<p class="muted">{len(rest)} more pairs, {how}, are listed in '
                f'<a href="most_confused.csv">most_confused.csv</a>.</p>')
    example_head = "<th>examples</th>" if wrong is not None else ""
    return ("<h2>Most confused pairs</h2><p>How often images of the true class were taken "
            "for the predicted one; the rate is the share of the true class's images.</p>"
            '<table><thead><tr><th>true class</th><th>predicted as</th><th class="num">'
            f'images</th><th class="num">rate</th>{example_head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>{tail}")


def _figure(name: str, caption: str, *, link_text: str | None = None) -> str:
    link = f' <a href="{_e(name)}">{_e(link_text)}</a>' if link_text else ""
    return (f'<figure class="plot"><a href="{_e(name)}"><img src="{_e(name)}" '
            f'alt="{_e(caption)}"></a><figcaption>{_e(caption)}{link}</figcaption></figure>')


def _per_class(report: ReportMetrics) -> str:
    frame: pd.DataFrame = report.worst_classes(report.num_classes)
    absent = report.per_class[report.per_class["support"] == 0]
    frame = pd.concat([frame, absent])
    rows = "".join(
        f"<tr><td>{_e(name)}</td>"
        + "".join(f'<td class="num" data-value="{v}">{v:.3f}</td>'
                  for v in (r.recall, r.precision, r.f1))
        + f'<td class="num">{r.support}</td></tr>'
        for name, r in zip(frame.index, frame.itertuples()))
    return ("<h2>Per class</h2><p>Worst recall first; click a column to sort. Recall is the "
            "share of the class's images classified right, precision the share of the "
            "images predicted as the class that belong to it.</p>"
            '<table class="sortable"><thead><tr><th>class</th><th class="num">recall</th>'
            '<th class="num">precision</th><th class="num">F1</th><th class="num">images'
            f"</th></tr></thead><tbody>{rows}</tbody></table>")


def to_html(report: ReportMetrics, figures: Mapping[str, str], files: Sequence[str], *,
            links: Mapping[str, str] | None = None, written: Mapping[str, str] | None = None,
            ) -> str:
    """The report page.

    Args:
        report: The report.
        figures: ``{png file name: caption}`` of the figures written beside the page
            (``confusion_matrix.png`` is linked at full size under the zoomed one).
        files: Every file written beside the page (the data files are linked).
        links: ``{label: relative URL}`` of related files outside the report, e.g. a
            run folder's ``../history.png``.
        written: Facts about the writing (tlkit and TensorFlow versions, date) shown
            after the report's own context.
    """
    parts = [f"<h1>{_e(report.context.get('title', 'Evaluation report'))}</h1>",
             first_screen(report), "<h2>What was evaluated</h2>",
             _context(report, written or {}), _gallery(report), _pairs(report)]
    full = figures.get("confusion_matrix.png")
    zoom = figures.get("confusion_matrix_top.png")
    if zoom:
        parts += ["<h2>Confusion matrix</h2>", _figure("confusion_matrix_top.png", zoom)]
        if full:
            parts.append(f'<p><a href="confusion_matrix.png">{_e(full)}</a> (opens at full '
                         f"size).</p>")
    elif full:
        parts += ["<h2>Confusion matrix</h2>", _figure("confusion_matrix.png", full)]
    for name, caption in figures.items():
        if name not in ("confusion_matrix.png", "confusion_matrix_top.png"):
            parts.append(_figure(name, caption))
    curves = (links or {}).get("training curves")
    if curves:  # a run's report: how it got here
        parts += ["<h2>Training</h2>", _figure(curves, "Loss and accuracy of both phases on "
                                                       "one time axis; the star is the saved "
                                                       "model's validation accuracy.")]
    parts += [_per_class(report), "<h2>All figures</h2>", _headline(report),
              _links(files, links or {})]
    return html_document(report.context.get("title", "Evaluation report"), parts)


def html_document(title: str, parts: Sequence[str]) -> str:
    """One self-contained page: ``title`` (escaped here), the report style, ``parts`` (HTML)
    in order, and the script that sorts every ``table.sortable`` by a click on a column."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(parts)}"
            f"<script>{_SORT_SCRIPT}</script></body></html>\n")
