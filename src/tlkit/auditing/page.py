"""The audit as one self-contained HTML page, in the evaluation report's style.

What a person acts on comes first, each list in its own section so that the two kinds
of suspect are not mixed: *likely wrong labels* (the out-of-fold model is sure of
another class) apart from *unusual images* (it is sure of no class: the label may well
be right), then duplicate pairs side by side, outliers, and classes that overlap.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from tlkit.evaluation.gallery import thumbnail_uri
from tlkit.evaluation.page import html_document

__all__ = ["SHOWN", "audit_page"]

SHOWN = 48
"""Images (or pairs) shown per gallery; every row is in the CSV files."""

_EXTRA_STYLE = """<style>
.gallery figure{width:140px}.gallery img{max-width:130px;max-height:130px}
.pair{display:flex;gap:4px}.pair img{max-width:130px;max-height:110px}
.rank{color:#888}.bad{color:#a00}
</style>"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _image(path: str, alt: str) -> str:
    uri = thumbnail_uri(path, 130)
    return f'<img src="{uri}" alt="{_e(alt)}" title="{_e(path)}">' if uri else \
        '<p class="muted">(unreadable)</p>'


def _issue_gallery(issues: pd.DataFrame, verdict: str) -> str:
    chosen = issues[issues["verdict"] == verdict]
    if chosen.empty:
        return "<p>None.</p>"
    tiles = []
    for rank, row in zip(chosen.index[:SHOWN], chosen.head(SHOWN).itertuples()):
        tiles.append(
            f"<figure>{_image(row.path, f'labelled {row.given}, looks like {row.suggested}')}"
            f"<figcaption><span class=\"rank\">#{rank + 1}</span> <b>{_e(row.given)}</b> &rarr; "
            f"<b>{_e(row.suggested)}</b><br>given {100 * row.score:.0f} %, suggested "
            f"{100 * row.suggested_confidence:.0f} %</figcaption></figure>")
    more = f'<p class="muted">{len(chosen) - SHOWN} more in label_issues.csv.</p>' \
        if len(chosen) > SHOWN else ""
    return f'<div class="gallery">{"".join(tiles)}</div>{more}'


def _duplicates(pairs: pd.DataFrame) -> str:
    if pairs.empty:
        return "<p>None.</p>"
    # What contradicts or leaks first: different classes, then across splits, then the rest.
    order = pairs.assign(_key=(pairs["classes"] == "same").astype(int) * 2
                         + (pairs["splits"] == "").astype(int)).sort_values(
        ["_key", "similarity"], ascending=[True, False], kind="stable")
    rows = []
    for row in order.head(SHOWN).itertuples():
        classes = _e(row.given_a) if row.classes == "same" else \
            f'<span class="bad">{_e(row.given_a)} / {_e(row.given_b)}</span>'
        rows.append(
            f'<tr><td><div class="pair">{_image(row.path_a, row.given_a)}'
            f"{_image(row.path_b, row.given_b)}</div></td><td>{_e(row.kind)}</td>"
            f'<td class="num">{row.similarity:.3f}</td><td>{classes}</td>'
            f"<td>{_e(row.splits) or '-'}</td></tr>")
    more = f'<p class="muted">{len(pairs) - SHOWN} more in duplicates.csv.</p>' \
        if len(pairs) > SHOWN else ""
    return ('<table><thead><tr><th>pair</th><th>kind</th><th class="num">similarity</th>'
            f"<th>class</th><th>splits</th></tr></thead><tbody>{''.join(rows)}</tbody>"
            f"</table>{more}")


def _outliers(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p>None.</p>"
    tiles = [f"<figure>{_image(row.path, f'outlier labelled {row.given}')}<figcaption>"
             f"<b>{_e(row.given)}</b><br>nearest: {_e(row.nearest_class)}<br>z = {row.z:.1f}"
             "</figcaption></figure>" for row in frame.head(SHOWN).itertuples()]
    return f'<div class="gallery">{"".join(tiles)}</div>'


def _overlap(frame: pd.DataFrame) -> str:
    # The most confused pairs, then every pair that shares photos (those contradict).
    listed = pd.concat([frame.head(20), frame.iloc[20:][frame["shared_photos"].iloc[20:] > 0]])
    if listed.empty:
        return "<p>None: the out-of-fold model confuses no two classes.</p>"
    rows = "".join(f"<tr><td>{_e(r.class_a)}</td><td>{_e(r.class_b)}</td>"
                   f'<td class="num">{r.a_as_b} ({100 * r.a_as_b_rate:.1f} %)</td>'
                   f'<td class="num">{r.b_as_a} ({100 * r.b_as_a_rate:.1f} %)</td>'
                   f'<td class="num">{100 * r.rate:.1f} %</td>'
                   f'<td class="num">{r.shared_photos}</td></tr>' for r in listed.itertuples())
    return ('<table class="sortable"><thead><tr><th>class a</th><th>class b</th>'
            '<th class="num">a taken for b</th><th class="num">b taken for a</th>'
            '<th class="num">rate</th><th class="num">shared photos</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def audit_page(tables: Mapping[str, pd.DataFrame], summary: Mapping[str, Any],
               files: Sequence[str]) -> str:
    """The page of a :class:`tlkit.DataAudit`.

    Args:
        tables: ``label_issues``, ``duplicates``, ``outliers`` and ``class_overlap``.
        summary: The audit's ``audit.json`` content (``counts``, ``settings``,
            ``seconds``).
        files: The files written beside the page (linked).
    """
    counts, settings, seconds = summary["counts"], summary["settings"], summary["seconds"]
    facts = {**{k: v for k, v in settings.items()}, **{f"{k} (s)": v for k, v in seconds.items()}}
    context = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts.items())
    count_rows = "".join(f'<tr><th>{_e(k.replace("_", " "))}</th><td class="num">{_e(v)}</td>'
                         "</tr>" for k, v in counts.items())
    links = " · ".join(f'<a href="{_e(n)}">{_e(n)}</a>' for n in files if n != "index.html")
    issues = tables["label_issues"]
    parts = [
        "<h1>Data audit</h1>", _EXTRA_STYLE, f'<table class="context">{context}</table>',
        f"<p>Data files: {links}. Nothing in the audited folder was moved or changed.</p>",
        f"<h2>Summary</h2><table>{count_rows}</table>",
        "<h2>Likely wrong labels</h2><p>Images whose given label the out-of-fold model "
        "(never trained on them) finds improbable while it is sure of another class: "
        "<i>given</i> is its probability of the label in the folder, <i>suggested</i> of the "
        "class it proposes. Most suspicious first; #rank is the row in label_issues.csv.</p>",
        _issue_gallery(issues, "wrong label"),
        "<h2>Unusual images</h2><p>Also flagged, but the model is sure of no class (the "
        "suggested class below 50 %): often a rightly labelled image that looks unlike the "
        "rest of its class, sometimes an image of no class at all. Look before relabelling.</p>",
        _issue_gallery(issues, "unusual image"),
        "<h2>Duplicates</h2><p>Exact copies (same bytes) and near duplicates (the same photo "
        "re-encoded, resized or cropped). Pairs across classes (in red) contradict each "
        "other; pairs across splits leak the test set into training.</p>",
        _duplicates(tables["duplicates"]),
        "<h2>Outliers</h2><p>Images far from every class in feature space (farthest first): "
        "a blank scan, a screenshot, a photo of something else, or a rightly labelled image "
        "unlike the rest of its class (a drawing among photos).</p>",
        _outliers(tables["outliers"]),
        "<h2>Class overlap</h2><p>Pairs of classes the out-of-fold model mixes up, and pairs "
        "whose folders hold the same photo (shared photos: duplicate pairs across the two). "
        "Each direction has its share of the class's images taken for the other; the rate is "
        "the larger one. The 20 most confused pairs, then every other pair that shares "
        "photos; all in class_overlap.csv.</p>",
        _overlap(tables["class_overlap"])]
    return html_document("Data audit", parts)
