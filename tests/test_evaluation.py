"""Tests for tlkit.evaluation: EvaluationReport and plot_history."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from tlkit import EvaluationReport, plot_history


@st.composite
def predictions(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    k = draw(st.integers(2, 8))
    n = draw(st.integers(1, 80))
    y_true = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    y_pred = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    return y_true, y_pred, k


@settings(max_examples=60, deadline=None)
@given(predictions())
def test_metrics_equal_scikit_learn(data: tuple[np.ndarray, np.ndarray, int]) -> None:
    y_true, y_pred, k = data
    names = [f"c{i}" for i in range(k)]
    report = EvaluationReport.from_predictions(y_true, y_pred, class_names=names)
    assert report.accuracy == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert report.balanced_accuracy == pytest.approx(skm.balanced_accuracy_score(y_true, y_pred))
    labels = np.arange(k)
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                     zero_division=0)
    per_class = report.per_class
    assert list(per_class.index) == names
    np.testing.assert_allclose(per_class["precision"], p)
    np.testing.assert_allclose(per_class["recall"], r)
    np.testing.assert_allclose(per_class["f1"], f)
    np.testing.assert_array_equal(per_class["support"], s)
    np.testing.assert_array_equal(report.confusion_matrix(),
                                  skm.confusion_matrix(y_true, y_pred, labels=labels))
    macro = skm.precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)
    assert report.macro["f1"] == pytest.approx(macro[2])
    # Classes never predicted get precision 0, not a crash.
    for c in set(range(k)) - set(y_pred.tolist()):
        assert per_class["precision"].iloc[c] == 0.0
    normalized = report.confusion_matrix("true")
    present = s > 0
    np.testing.assert_allclose(normalized[present].sum(axis=1), 1.0)
    assert np.all(normalized[~present] == 0)


def test_scores_logits_top5_and_calibration() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 10)) * 3
    y_true = np.where(rng.uniform(size=200) < 0.7, logits.argmax(axis=1), rng.integers(0, 10, 200))
    names = [f"class {i}" for i in range(10)]
    from_logits = EvaluationReport.from_predictions(y_true, logits, class_names=names)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    from_probs = EvaluationReport.from_predictions(y_true, probs, class_names=names)
    np.testing.assert_allclose(from_logits.y_score, from_probs.y_score, atol=1e-9)
    assert from_logits.accuracy == from_probs.accuracy
    expected_top5 = skm.top_k_accuracy_score(y_true, probs, k=5, labels=np.arange(10))
    assert from_probs.top5_accuracy == pytest.approx(expected_top5)
    # ECE computed here by its definition: 15 equal-width bins of the top-1 confidence,
    # support-weighted |accuracy - confidence|.
    confidence, right = probs.max(axis=1), probs.argmax(axis=1) == y_true
    bins = np.minimum((np.ceil(confidence * 15) - 1).astype(int), 14)
    expected = sum(abs(right[bins == b].mean() - confidence[bins == b].mean()) * (bins == b).sum()
                   for b in np.unique(bins)) / len(y_true)
    assert expected > 0.05  # this toy model is far from calibrated: the check has teeth
    assert from_probs.expected_calibration_error() == pytest.approx(expected, rel=1e-9)
    # A perfectly calibrated toy case: confidence 0.75 and 75 % right.
    scores = np.tile([0.75, 0.25], (4, 1))
    calibrated = EvaluationReport.from_predictions([0, 0, 0, 1], scores, class_names=["a", "b"])
    assert calibrated.expected_calibration_error() == pytest.approx(0.0)
    labels_only = EvaluationReport.from_predictions([0, 1], [0, 1], class_names=["a", "b"])
    assert labels_only.top5_accuracy is None and labels_only.expected_calibration_error() is None


def test_most_confused_and_worst_classes() -> None:
    y_true = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 2, 0, 0, 0]
    report = EvaluationReport.from_predictions(y_true, y_pred, class_names=["a", "b", "c"])
    confused = report.most_confused(2)
    assert confused.to_dict("records") == [
        {"true": "c", "predicted": "a", "count": 3, "fraction_of_true": 0.75},
        {"true": "a", "predicted": "b", "count": 2, "fraction_of_true": 2 / 3},
    ]
    assert list(report.worst_classes(2).index) == ["c", "a"]


def test_from_model_uses_one_pass_and_shows_progress(capsys: pytest.CaptureFixture) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3)).astype("float32")
    y = x.argmax(axis=1)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Softmax()])
    # A dataset that reshuffles on every pass: a two-pass evaluation would misalign labels.
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(50, seed=1).batch(8)
    report = EvaluationReport.from_model(model, dataset, class_names=["a", "b", "c"])
    assert report.accuracy == 1.0
    assert "7/7" in capsys.readouterr().err  # the one progress display: tqdm on stderr
    with pytest.raises(ValueError, match="no batches"):
        EvaluationReport.from_model(model, dataset.take(0), class_names=["a", "b", "c"], verbose=0)


def test_from_model_flip_tta_averages_mirrored_predictions() -> None:
    # A "model" that looks only at the left column: mirroring changes its answer.
    inputs = keras.Input((2, 2, 1))
    left = keras.layers.Lambda(lambda t: t[:, :, 0, 0])(inputs)
    model = keras.Model(inputs, keras.layers.Softmax()(left * 10.0))
    x = np.array([[[[1.0], [0.0]], [[0.0], [0.0]]]], "float32")  # left column (1, 0)
    data = tf.data.Dataset.from_tensor_slices((x, [0])).batch(1)
    plain = EvaluationReport.from_model(model, data, class_names=["a", "b"], verbose=0)
    tta = EvaluationReport.from_model(model, data, class_names=["a", "b"], flip_tta=True, verbose=0)
    mirrored = np.asarray(model(x[:, :, ::-1, :]))
    np.testing.assert_allclose(tta.y_score, (plain.y_score + mirrored) / 2, rtol=1e-6)
    vectors = tf.data.Dataset.from_tensor_slices((np.zeros((2, 3), "float32"), [0, 1])).batch(2)
    with pytest.raises(ValueError, match="needs image batches"):
        EvaluationReport.from_model(keras.Sequential([keras.Input((3,)), keras.layers.Softmax()]),
                                    vectors, class_names=["a", "b", "c"], flip_tta=True, verbose=0)


def test_save_writes_every_file_and_a_working_page(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    k = 6
    y_true = rng.integers(0, k, 120)
    scores = rng.dirichlet(np.ones(k), 120)
    scores[np.arange(120), y_true] += 0.3
    scores /= scores.sum(axis=1, keepdims=True)
    report = EvaluationReport.from_predictions(y_true, scores, class_names=list("abcdef"))
    assert 0.5 < report.accuracy < 0.95  # mistakes, so the page has confusions to show
    paths = report.save(tmp_path / "report")
    expected = {"report.json", "predictions.csv", "per_class.csv", "confusion_matrix.csv",
                "most_confused.csv", "confusion_matrix_top.png", "confusion_matrix.png",
                "per_class_recall.png", "reliability.png", "report.md", "index.html"}
    assert set(paths) == expected
    for path in paths.values():
        assert path.is_file() and path.stat().st_size > 0
    with open(paths["report.json"]) as handle:
        loaded = json.load(handle)
    assert loaded["summary"]["accuracy"] == pytest.approx(report.accuracy)
    assert np.array_equal(loaded["confusion_matrix"], report.confusion_matrix())
    frame = pd.read_csv(paths["confusion_matrix.csv"], index_col=0)
    assert list(frame.index) == list("abcdef") and frame.to_numpy().sum() == 120

    class Collector(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.images: list[str] = []
            self.links: list[str] = []
            self.tables = 0

        def handle_starttag(self, tag: str, attrs: list) -> None:
            if tag == "img":
                self.images.append(dict(attrs)["src"])
            if tag == "a":
                self.links.append(dict(attrs)["href"])
            if tag == "table":
                self.tables += 1

    collector = Collector()
    collector.feed(paths["index.html"].read_text())
    # The full matrix is linked (it opens at full size), the zoomed one shown.
    shown = {n for n in expected if n.endswith(".png")} - {"confusion_matrix.png"}
    assert set(collector.images) == shown
    assert "confusion_matrix.png" in collector.links
    assert {n for n in expected if n.endswith((".csv", ".json"))} <= set(collector.links)
    assert all((tmp_path / "report" / link).is_file() for link in collector.links)
    assert collector.tables == 5  # thresholds, context, confused pairs, per class, all figures
    written = pd.read_csv(paths["predictions.csv"], index_col=0)
    assert list(written.columns) == ["true", "predicted", "correct", "confidence",
                                     "true_probability", "loss"]
    assert (written["predicted"] == [report.class_names[i] for i in report.y_pred]).all()
    assert len(pd.read_csv(paths["most_confused.csv"])) == len(report.most_confused(36))
    with pytest.raises(FileExistsError, match="already holds a report"):
        report.save(tmp_path / "report")
    assert report.save(tmp_path / "report", overwrite=True)["index.html"].is_file()


def test_text_outputs() -> None:
    report = EvaluationReport.from_predictions([0, 1, 1, 2], [0, 1, 2, 2],
                                               class_names=["ant", "bee", "cow"])
    text = str(report)
    assert "accuracy" in text and "75.00 %" in text and "bee -> cow: 1" in text
    assert "precision" in text and "ant" in text  # the classification report
    markdown = report.to_markdown()
    assert "| mean per-class accuracy | 83.33 % |" in markdown
    assert "| bee | cow | 1 | 0.500 |" in markdown
    assert "EvaluationReport(samples=4" in repr(report)


def test_101_class_heatmap_labels_every_row_and_column() -> None:
    k = 101
    names = [f"class_{i:03d}" for i in range(k)]
    rng = np.random.default_rng(0)
    y_true = np.repeat(np.arange(k), 5)
    y_pred = np.where(rng.uniform(size=y_true.size) < 0.9, y_true, rng.integers(0, k, y_true.size))
    report = EvaluationReport.from_predictions(y_true, y_pred, class_names=names)
    ax = report.plot_confusion_matrix()
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    small = report.plot_confusion_matrix(only_confused=5, normalize=None)
    shown = [t.get_text() for t in small.get_yticklabels()]
    involved = set(report.most_confused(5)["true"]) | set(report.most_confused(5)["predicted"])
    assert set(shown) == involved
    bars = report.plot_per_class_recall()
    assert len(bars.patches) == k


def test_plots_draw_into_the_axes_they_are_given() -> None:
    from matplotlib.figure import Figure

    report = EvaluationReport([0, 1, 2, 2], [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7],
                                             [0.6, 0.3, 0.1]], class_names=["a", "b", "c"])
    figure = Figure()
    left, middle, right = figure.subplots(1, 3)
    assert report.plot_confusion_matrix(ax=left) is left
    assert report.plot_per_class_recall(ax=middle) is middle
    assert report.plot_reliability(ax=right) is right
    assert len(middle.patches) == 3 and left.get_xlabel() == "predicted class"
    # Nothing drawn outside the given panels (the heatmap's colour bar aside).
    assert all(ax in figure.axes for ax in (left, middle, right))


def test_plot_history_marks_fine_tuning() -> None:
    history = keras.callbacks.History()
    history.history = {"loss": [1.0, 0.5], "val_loss": [1.2, 0.9], "accuracy": [0.4, 0.8],
                       "val_accuracy": [0.3, 0.7]}
    axes = plot_history(history, fine_tune_epoch=1)
    assert [ax.get_title() for ax in axes] == ["loss", "accuracy"]
    lines = axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["train", "validation", "fine-tuning starts"]
    # Epochs are drawn 1-based; the 0-based first fine-tuning epoch 1 is the 2nd point, so
    # the marker sits between epochs 1 and 2.
    assert list(lines[0].get_xdata()) == [1, 2]
    assert list(lines[2].get_xdata()) == [1.5, 1.5]
    from matplotlib.figure import Figure

    panel = Figure().subplots()
    assert plot_history(history, metrics=("loss",), ax=panel) == [panel]
    with pytest.raises(ValueError, match="one Axes per metric"):
        plot_history(history, ax=panel)
    plot_history(pd.DataFrame(history.history))
    with pytest.raises(ValueError, match="none of the metrics"):
        plot_history({"auc": [0.5]})
    with pytest.raises(TypeError, match="history must be"):
        plot_history([1, 2, 3])


@pytest.mark.parametrize(
    ("y_true", "y_score", "names", "error", "match"),
    [
        ([0, 1], [0, 1], ["a"], ValueError, "at least 2 names"),
        ([0, 1], [[0.5, 0.5], [0.5, 0.5]], ["a", "b", "c"], ValueError,
         "y_score has 2 columns but class_names has 3"),
        ([0, 3], [0, 1], ["a", "b"], ValueError, r"y_true has labels outside \[0, 1\].*\[3\]"),
        ([0, 1], [0, -1], ["a", "b"], ValueError, r"y_score has labels outside"),
        ([0, 1, 1], [0, 1], ["a", "b"], ValueError, "different lengths: 3 and 2"),
        ([], [], ["a", "b"], ValueError, "empty"),
        ([0, 1], [[0.5, np.nan], [0.5, 0.5]], ["a", "b"], ValueError, "NaN or infinite.*row 0"),
        ([0, 1], [0, 1], ["a", "a"], ValueError, "must hold distinct names"),
        ([0.5, 1], [0, 1], ["a", "b"], TypeError, "integer class indices"),
        ([0, 1], [0, 1], "ab", TypeError, "class_names must be a sequence"),
    ],
)
def test_bad_input(y_true: object, y_score: object, names: object, error: type,
                   match: str) -> None:
    with pytest.raises(error, match=match):
        EvaluationReport.from_predictions(y_true, y_score, class_names=names)  # type: ignore[arg-type]


def test_reliability_needs_scores() -> None:
    report = EvaluationReport.from_predictions([0, 1], [0, 1], class_names=["a", "b"])
    with pytest.raises(ValueError, match="needs scores"):
        report.plot_reliability()
    with pytest.raises(ValueError, match="Unknown normalize"):
        report.confusion_matrix("all")


def test_save_overwrite_leaves_no_stale_file_of_the_earlier_report(tmp_path: Path) -> None:
    with_scores = EvaluationReport([0, 1, 1], [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]],
                                   class_names=["a", "b"])
    with_scores.save(tmp_path)
    assert (tmp_path / "reliability.png").is_file()
    (tmp_path / "notes.txt").write_text("mine")
    labels_only = EvaluationReport([0, 1, 1], [0, 1, 0], class_names=["a", "b"])
    with pytest.raises(FileExistsError, match="already holds a report"):
        labels_only.save(tmp_path)
    labels_only.save(tmp_path, overwrite=True)
    assert not (tmp_path / "reliability.png").exists()  # belonged to the earlier report
    assert (tmp_path / "notes.txt").read_text() == "mine"  # not the report's: kept


def test_predicting_with_a_model_does_not_keep_it_alive() -> None:
    """The traced-predict cache is keyed weakly by the model; its value must not hold the
    model (a closure over it kept every model tlkit predicted with in memory)."""
    import gc
    import weakref

    model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(2), keras.layers.Softmax()])
    data = tf.data.Dataset.from_tensor_slices((np.ones((3, 2, 2, 1), "float32"), [0, 1, 0])
                                              ).batch(2)
    EvaluationReport.from_model(model, data, class_names=["a", "b"], flip_tta=True, verbose=0)
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None
