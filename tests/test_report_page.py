"""The saved report as a reader meets it: gallery of mistakes, context, zoomed matrix,
predictions.csv, built from a small generated folder of images."""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tlkit import EvaluationReport, ImageFolder, plot_mistakes
from tlkit.evaluation.page import GALLERY_SIZE


class Page(HTMLParser):
    """The parts of index.html the tests read: images, links, sections, context rows."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.links: list[str] = []
        self.headings: list[str] = []
        self.context: dict[str, str] = {}
        self.captions: list[str] = []
        self._tag: list[str] = []
        self._in_context = False
        self._row: list[str] = []
        self._caption: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        self._tag.append(tag)
        if tag == "img":
            self.images.append(attributes)
        elif tag == "a":
            self.links.append(attributes["href"])
        elif tag == "table" and attributes.get("class") == "context":
            self._in_context = True
        elif tag == "tr" and self._in_context:
            self._row = []
        elif tag == "figcaption":
            self._caption = ""

    def handle_endtag(self, tag: str) -> None:
        if self._tag:
            self._tag.pop()
        if tag == "table" and self._in_context:
            self._in_context = False
        elif tag == "tr" and self._in_context and len(self._row) >= 2:
            self.context[self._row[0]] = self._row[1]
        elif tag == "figcaption" and self._caption is not None:
            self.captions.append(self._caption)
            self._caption = None

    def handle_data(self, data: str) -> None:
        if self._tag and self._tag[-1] == "h2":
            self.headings.append(data)
        if self._in_context and self._tag and self._tag[-1] in ("th", "td"):
            self._row.append(data)
        if self._caption is not None:
            self._caption += data


@pytest.fixture
def folder(tmp_path: Path) -> ImageFolder:
    """3 classes of 4 images each, in the modes people's folders hold."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(["ant", "bee", "cow"]):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(4):
            pixels = rng.integers(0, 255, (30 + 7 * i, 40, 3), dtype=np.uint8)
            image = Image.fromarray(pixels)
            if i == 1:
                image = image.convert("L")
            if i == 2:
                image.convert("CMYK").save(tmp_path / "photos" / name / f"{i}.jpg")
                continue
            if i == 3:
                image = image.convert("RGBA")
            image.save(tmp_path / "photos" / name / f"{i}.png")
    return ImageFolder(tmp_path / "photos", verbose=0)


def scores_with_mistakes(labels: np.ndarray) -> tuple[np.ndarray, dict[int, float]]:
    """Right, confident scores except three images, wrong with known confidences."""
    scores = np.full((len(labels), 3), 0.05)
    scores[np.arange(len(labels)), labels] = 0.9
    wrong = {1: 0.6, 6: 0.95, 9: 0.7}  # image -> confidence of its wrong prediction
    for image, confidence in wrong.items():
        scores[image] = (1 - confidence) / 2
        scores[image, (labels[image] + 1) % 3] = confidence
    return scores, wrong


def test_page_shows_the_mistakes_context_and_zoomed_matrix(folder: ImageFolder,
                                                          tmp_path: Path) -> None:
    scores, wrong = scores_with_mistakes(folder.labels)
    report = EvaluationReport(folder.labels, scores, class_names=folder.class_names,
                              paths=folder.paths,
                              context={"model": "tiny net, 32 x 32 pixels", "data": "photos/"})
    files = report.save(tmp_path / "report", links={"training curves": "../history.png"})
    page = Page(files["index.html"].read_text())

    # Context on top, with what wrote it.
    assert page.context["model"] == "tiny net, 32 x 32 pixels"
    assert page.context["data"] == "photos/"
    assert "tlkit" in page.context["written"] and "TensorFlow" in page.context["written"]
    assert "../history.png" in page.links

    # Gallery: the mistakes, most confident first, as embedded JPEG thumbnails.
    assert page.headings[:3] == ["What was evaluated", "Most confident mistakes",
                                 "Most confused pairs"]
    gallery = [img for img in page.images if img["src"].startswith("data:image/jpeg")
               and "taken for" not in img["alt"]]
    order = sorted(wrong, key=wrong.get, reverse=True)
    assert len(gallery) == len(wrong)
    tiles = [c for c in page.captions if c.startswith(tuple(Path(p).name for p in folder.paths))]
    for img, caption, image in zip(gallery, tiles, order, strict=True):
        true = folder.class_names[folder.labels[image]]
        predicted = folder.class_names[(folder.labels[image] + 1) % 3]
        assert f"true {true}" in img["alt"] and f"predicted {predicted}" in img["alt"]
        assert caption.startswith(Path(folder.paths[image]).name)
        true_probability = (1 - wrong[image]) / 2
        assert (f"predicted {predicted}true {true}{100 * wrong[image]:.1f} % vs true "
                f"{100 * true_probability:.1f} %; loss {-np.log(true_probability):.2f}") in caption
        assert Path(folder.paths[image]).resolve().as_uri() in page.links
    thumbnail = Image.open(io.BytesIO(base64.b64decode(gallery[0]["src"].split(",", 1)[1])))
    assert thumbnail.format == "JPEG" and max(thumbnail.size) <= 160

    # The zoomed matrix is shown, the full one linked; captions are words, not file names.
    shown = [img["src"] for img in page.images if not img["src"].startswith("data:")]
    assert "confusion_matrix_top.png" in shown and "confusion_matrix.png" not in shown
    assert "confusion_matrix.png" in page.links
    assert all(" " in caption and ".png" not in caption for caption in page.captions
               if "predicted" not in caption)

    # predictions.csv: one row per image, its path, and the loss of the true class.
    table = pd.read_csv(files["predictions.csv"], index_col=0)
    assert table["path"].tolist() == folder.paths
    assert table["correct"].sum() == len(folder) - len(wrong)
    expected_loss = -np.log(scores[np.arange(len(folder)), folder.labels])
    np.testing.assert_allclose(table["loss"], expected_loss, rtol=1e-6)
    assert report.to_dict()["context"]["data"] == "photos/"


def test_gallery_survives_a_file_gone_and_is_absent_without_paths(folder: ImageFolder,
                                                                 tmp_path: Path) -> None:
    scores, wrong = scores_with_mistakes(folder.labels)
    most_confident = max(wrong, key=wrong.get)
    Path(folder.paths[most_confident]).unlink()  # moved away after evaluation
    report = EvaluationReport(folder.labels, scores, class_names=folder.class_names,
                              paths=folder.paths)
    page = Page(report.save(tmp_path / "with")["index.html"].read_text())
    assert "Most confident mistakes" in page.headings
    thumbnails = [img for img in page.images if img["src"].startswith("data:")]
    assert len(thumbnails) == len(wrong) - 1 + 2  # gallery less the lost file, + pair examples
    assert "(unreadable)" in (tmp_path / "with" / "index.html").read_text()

    plain = EvaluationReport(folder.labels, scores, class_names=folder.class_names)
    page = Page(plain.save(tmp_path / "without")["index.html"].read_text())
    assert "Most confident mistakes" not in page.headings
    assert not any(img["src"].startswith("data:") for img in page.images)
    assert "path" not in pd.read_csv(tmp_path / "without" / "predictions.csv").columns
    with pytest.raises(ValueError, match="paths="):
        plot_mistakes(plain)


def test_plot_mistakes_titles_the_most_confident_first(folder: ImageFolder) -> None:
    scores, wrong = scores_with_mistakes(folder.labels)
    report = EvaluationReport(folder.labels, scores, class_names=folder.class_names,
                              paths=folder.paths)
    axes = report.plot_mistakes(n=2, columns=4)
    assert len(axes) == 2
    assert axes[0].get_title().endswith("(95 %)") and axes[1].get_title().endswith("(70 %)")
    assert axes[0].images[0].get_array().shape[2] == 3  # the CMYK/RGBA/grayscale files are RGB


def test_gallery_is_capped_and_pairs_summarised(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    k, n = 12, 400
    y_true = rng.integers(0, k, n)
    scores = rng.dirichlet(np.ones(k), n)
    paths = [str(tmp_path / f"{i}.png") for i in range(n)]  # never read: files absent
    report = EvaluationReport(y_true, scores, class_names=[f"c{i}" for i in range(k)],
                              paths=paths)
    text = report.save(tmp_path / "report")["index.html"].read_text()
    assert text.count("(unreadable)") == GALLERY_SIZE
    assert "more pairs" in text and "most_confused.csv" in text


@pytest.mark.parametrize(("paths", "error", "match"), [
    ("photos/", TypeError, "paths must be a sequence"),
    (["a.png"], ValueError, "one path per row"),
])
def test_bad_paths_are_named(paths: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        EvaluationReport([0, 1], [0, 1], class_names=["a", "b"], paths=paths)


def test_bad_context_is_named() -> None:
    with pytest.raises(TypeError, match="context must be a mapping"):
        EvaluationReport([0, 1], [0, 1], class_names=["a", "b"], context=["model"])


def test_evaluating_traces_one_function_whatever_the_batch_sizes() -> None:
    """The cause of TensorFlow's "triggered tf.function retracing" warning is gone: a ragged
    last batch, the mirrored copies and a second evaluation reuse one traced function."""
    import keras
    import tensorflow as tf

    from tlkit import _predict

    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(2, activation="softmax")])
    images = np.random.default_rng(0).uniform(0, 255, (11, 4, 4, 3)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((images, np.arange(11) % 2)).batch(4)
    for _ in range(2):
        EvaluationReport.from_model(model, dataset, class_names=["a", "b"], flip_tta=True,
                                    verbose=0)
    traced = list(_predict._TRACED[model].values())
    assert len(traced) == 1
    assert traced[0].experimental_get_tracing_count() == 1


def test_the_first_screen_answers_with_figures_a_reader_can_check(tmp_path: Path) -> None:
    """Accuracy with its Wilson interval, worst classes as k/n, confused pairs, calibration in
    words and what a confidence threshold keeps; the zoomed matrix's rows add up to 1; a sure
    mistake that gives the given label almost nothing is marked as a possible label error."""
    from scipy.stats import binomtest

    from tlkit.evaluation.first_screen import accuracy_interval, threshold_table

    rng = np.random.default_rng(5)
    k, n = 30, 1500
    y_true = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), y_true] += 4.0
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    scores[0] = 0.001 / (k - 1)
    scores[0, (y_true[0] + 1) % k] = 0.999  # sure, and the given label gets 0.1 %
    names = [f"class{i:02d}" for i in range(k)]
    paths = [str(tmp_path / f"img{i}.png") for i in range(n)]
    report = EvaluationReport(y_true, scores, class_names=names, paths=paths,
                              context={"validation accuracy": "91.0 % of 300 images"})
    files = report.save(tmp_path / "report")
    text = files["index.html"].read_text()
    right = int((report.y_true == report.y_pred).sum())
    low, high = accuracy_interval(right, n)
    wilson = binomtest(right, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert (low, high) == (pytest.approx(wilson.low), pytest.approx(wilson.high))
    first = text[text.index('<section class="first">'):text.index("</section>")]
    assert f"Accuracy <b>{100 * report.accuracy:.1f} %</b>" in first
    assert f"{right:,} of {n:,} images; 95 % interval {100 * low:.1f} % to {100 * high:.1f} %" \
        in first
    assert "Validation: 91.0 % of 300 images" in first
    worst = report.worst_classes(1)
    name = worst.index[0]
    diagonal = int(report.confusion_matrix()[names.index(name), names.index(name)])
    assert f"{name} {diagonal}/{int(worst['support'].iloc[0])}" in first
    pair = report.most_confused(1).iloc[0]
    assert f"{pair['true']} → {pair['predicted']} ({pair['count']} of" in first
    table = threshold_table(report)
    confidence = scores.max(axis=1)
    kept = confidence >= 0.9
    assert table.loc[2, "images"] == kept.sum()
    assert table.loc[2, "accuracy"] == pytest.approx((y_true == scores.argmax(1))[kept].mean())
    assert f"{kept.sum():,} ({100 * kept.mean():.1f} %)" in first
    words = "Under-confident" if confidence.mean() < report.accuracy else "Over-confident"
    assert words in first if report.expected_calibration_error() >= 0.02 else "Calibrated" in first
    saved = report.to_dict()["first_screen"]
    assert saved["accuracy_interval_95"] == [pytest.approx(low), pytest.approx(high)]
    # The zoom: every row sums to 1 with the "other classes" column.
    ax = report.plot_confusion_matrix(only_confused=10)
    cells = np.ma.filled(ax.collections[0].get_array(), 0).reshape(len(ax.get_yticks()), -1)
    assert ax.get_xticklabels()[-1].get_text() == "other classes"
    np.testing.assert_allclose(cells.sum(axis=1), 1.0, atol=1e-9)
    assert "square-root" in ax.figure.axes[-1].get_ylabel()
    # The label-error badge: on the sure mistake only.
    assert text.count('class="badge">possible label error') == 1
    tile = text[text.index("img0.png</a>"):]
    assert tile.index("possible label error") < tile.index("</figure>")


def test_a_random_sample_of_predictions_shows_right_and_wrong(folder: ImageFolder,
                                                              tmp_path: Path) -> None:
    from tlkit.evaluation.gallery import plot_sample

    scores, wrong = scores_with_mistakes(folder.labels)
    report = EvaluationReport(folder.labels, scores, class_names=folder.class_names,
                              paths=folder.paths)
    axes = plot_sample(report, n=len(folder))  # every image: both kinds are there
    red = [ax for ax in axes if ax.title.get_color() == "#d62728"]
    assert len(axes) == len(folder) and len(red) == len(wrong)
    assert all("(true: " in ax.get_title() for ax in red)
    assert [ax.get_title() for ax in plot_sample(report, n=5)] == \
        [ax.get_title() for ax in plot_sample(report, n=5)]  # the same sample each time
    page = Page(report.save(tmp_path / "r")["index.html"].read_text())
    assert "predictions_sample.png" in [img["src"] for img in page.images]
