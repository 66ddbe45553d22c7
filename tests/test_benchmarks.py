"""The benchmark scripts' own logic (the benchmarks themselves run on the full data only)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

LoadScript = Callable[[str], ModuleType]  # the load_script fixture (conftest.py)
ROOT = Path(__file__).resolve().parents[1]


def test_system_allocator_leaves_the_environment_alone(
    load_script: LoadScript, monkeypatch: pytest.MonkeyPatch,
) -> None:
    bench = load_script("benchmarks/caltech101.py")
    monkeypatch.setenv("LD_PRELOAD", "libkeep.so")
    env, allocator = bench.child_environment("system")
    assert allocator == "system"
    assert env["LD_PRELOAD"] == "libkeep.so"


def test_tcmalloc_is_preloaded_before_what_the_user_preloads(
    load_script: LoadScript, monkeypatch: pytest.MonkeyPatch,
) -> None:
    bench = load_script("benchmarks/caltech101.py")
    monkeypatch.setattr(bench.ctypes.util, "find_library",
                        lambda name: "libtcmalloc_minimal.so.4"
                        if name == "tcmalloc_minimal" else None)
    monkeypatch.setenv("LD_PRELOAD", "libkeep.so")
    for choice in ("auto", "tcmalloc"):
        env, allocator = bench.child_environment(choice)
        assert allocator == "libtcmalloc_minimal.so.4"
        assert env["LD_PRELOAD"] == "libtcmalloc_minimal.so.4 libkeep.so"
    monkeypatch.delenv("LD_PRELOAD")
    env, _ = bench.child_environment("auto")
    assert env["LD_PRELOAD"] == "libtcmalloc_minimal.so.4"


def test_missing_tcmalloc_falls_back_on_auto_and_fails_when_asked_for(
    load_script: LoadScript, monkeypatch: pytest.MonkeyPatch,
) -> None:
    bench = load_script("benchmarks/caltech101.py")
    monkeypatch.setattr(bench.ctypes.util, "find_library", lambda name: None)
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    env, allocator = bench.child_environment("auto")
    assert allocator == "system"
    assert "LD_PRELOAD" not in env
    with pytest.raises(SystemExit, match="--allocator tcmalloc: no libtcmalloc found"):
        bench.child_environment("tcmalloc")


def test_runs_into_a_named_folder_are_replaced_only_when_asked(
    load_script: LoadScript, tmp_path: Path,
) -> None:
    bench = load_script("benchmarks/caltech101.py")
    plain = bench.example_command(0, tmp_path / "seed0", "w.h5", None, [], overwrite=False)
    assert "--overwrite" not in plain
    asked = bench.example_command(0, tmp_path / "seed0", "w.h5", "data", [], overwrite=True)
    assert "--overwrite" in asked and asked[-2:] == ["--data-dir", "data"]


def test_results_are_written_by_the_script_and_never_replaced_unasked(
    load_script: LoadScript, tmp_path: Path, capsys: pytest.CaptureFixture,
) -> None:
    results = load_script("benchmarks/_results.py")
    path = results.write_results({"a": 1}, "demo", tmp_path / "r.json", overwrite=False)
    assert json.loads(path.read_text()) == {"a": 1}
    assert json.loads(capsys.readouterr().out) == {"a": 1}  # stdout holds only the JSON
    with pytest.raises(SystemExit, match="exists; pass --overwrite"):
        results.write_results({"a": 2}, "demo", path, overwrite=False)
    results.write_results({"a": 2}, "demo", path, overwrite=True)
    assert json.loads(path.read_text()) == {"a": 2}


@pytest.mark.parametrize("path", sorted((ROOT / "benchmarks" / "results").glob("*.json")),
                         ids=lambda p: p.name)
def test_every_committed_result_is_valid_json(path: Path) -> None:
    result = json.loads(path.read_text())
    assert isinstance(result, dict) and result.get("benchmark")


def test_every_named_configuration_is_valid_for_the_example(load_script: LoadScript) -> None:
    bench = load_script("benchmarks/caltech101.py")
    example = load_script("examples/caltech101_mobilenetv2.py")
    pinned = example.options_from(example.parse_args(bench.CONFIGS["defaults_2026_11"]))
    assert (pinned.image_size, pinned.finetune_epochs, pinned.unfreeze, pinned.wise_alpha,
            pinned.finetune_lr, pinned.head_epochs) == ((224, 224), 3, {0: "all"}, 0.7,
                                                        3e-4, 30)
    for name, arguments in bench.CONFIGS.items():
        assert example.options_from(example.parse_args(arguments)), name


def test_configurations_run_in_turn_and_get_their_ratio_to_the_first(
    load_script: LoadScript, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    bench = load_script("benchmarks/caltech101.py")
    order = []

    def fake_run(seed: int, out: Path, args: object, arguments: list[str], env: dict) -> dict:
        name = out.name.rsplit("_seed", 1)[0]
        order.append((seed, name))
        wall = {"defaults_2026_11": 1000.0, "top6": 450.0}[name] + seed
        return {"seed": seed, "process_wall_seconds": wall, "test_accuracy": 0.95,
                "test_mean_per_class_accuracy": 0.93, "validation_accuracy": 0.96,
                "validation_mean_per_class_accuracy": 0.94, "peak_memory_mb": 1.0,
                "feature_images_per_second": 1.0, "fine_tuning_images_per_second": 1.0}

    monkeypatch.setattr(bench, "run_example", fake_run)
    monkeypatch.setattr(bench, "calibrate", lambda env: 100.0)
    result = bench.main(["--seeds", "0", "1", "2", "--configs", "defaults_2026_11", "top6",
                         "--output-dir", str(tmp_path), "--json", str(tmp_path / "r.json"),
                         "--allocator", "system"])
    assert order == [(s, n) for s in (0, 1, 2) for n in ("defaults_2026_11", "top6")]
    top6 = result["configs"]["top6"]["median"]
    assert top6["wall_seconds"] == 451.0
    assert top6["wall_time_ratio_to_defaults_2026_11"] == round(451.0 / 1001.0, 3)
    assert result["calibration_frozen_mobilenetv2_224_batch64_images_per_second"] == {
        "before": 100.0, "after": 100.0}
    assert json.loads((tmp_path / "r.json").read_text()) == result
    capsys.readouterr()


def test_baseline_comparison_and_target_check_per_configuration(
    load_script: LoadScript, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    bench = load_script("benchmarks/caltech101.py")
    figures = {"defaults_2026_11": (1000.0, 0.955, 0.935), "current_refit": (480.0, 0.962, 0.947)}

    def fake_run(seed: int, out: Path, args: object, arguments: list[str], env: dict) -> dict:
        name = out.name.rsplit("_seed", 1)[0]
        wall, accuracy, per_class = figures[name]
        run = {"seed": seed, "process_wall_seconds": wall, "test_accuracy": accuracy,
               "test_mean_per_class_accuracy": per_class - (0.03 if seed == 2 else 0.0),
               "test_expected_calibration_error": 0.015 if seed else 0.03,
               "peak_memory_mb": 1.0, "feature_images_per_second": 1.0,
               "fine_tuning_images_per_second": 1.0}
        if "--val-fraction" not in arguments or arguments[arguments.index("--val-fraction") + 1] != "0":
            run.update(validation_accuracy=0.95, validation_mean_per_class_accuracy=0.93)
        return run

    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"runs": [
        {"seed": s, "test_accuracy": 0.945, "test_mean_per_class_accuracy": 0.92}
        for s in (0, 1, 2)]}))
    monkeypatch.setattr(bench, "run_example", fake_run)
    monkeypatch.setattr(bench, "calibrate", lambda env: 100.0)
    result = bench.main(["--seeds", "0", "1", "2", "--configs", "defaults_2026_11",
                         "current_refit", "--baseline", str(baseline), "--output-dir",
                         str(tmp_path), "--json", str(tmp_path / "r.json"),
                         "--allocator", "system"])
    refit = result["configs"]["current_refit"]
    so_far = json.loads((tmp_path / "runs_so_far.json").read_text())
    assert so_far == {name: config["runs"] for name, config in result["configs"].items()}
    assert "validation_accuracy" not in refit["median"]  # no validation split: left out
    assert [r["beats_logistic_regression"] for r in refit["runs"]] == [True, True, False]
    assert refit["target"]["met"] == {"test_accuracy": True, "test_mean_per_class_accuracy": True,
                                      "beats_logistic_regression_every_seed": False,
                                      "wall_time_ratio": True,
                                      "test_expected_calibration_error": True}  # median 0.015
    assert refit["target"]["all_met"] is False
    assert result["configs"]["defaults_2026_11"]["target"]["met"]["wall_time_ratio"] is False
    with pytest.raises(SystemExit, match="no result for seeds \\[3\\]"):
        bench.main(["--seeds", "3", "--configs", "defaults_2026_11", "--baseline", str(baseline),
                    "--output-dir", str(tmp_path / "x"), "--allocator", "system"])
    capsys.readouterr()


def test_scale_measures_each_size_in_its_own_process_and_rescans_from_the_cache(
    load_script: LoadScript, tmp_path: Path, capsys: pytest.CaptureFixture,
) -> None:
    bench = load_script("benchmarks/scale.py")
    result = bench.main(["--sizes", "200", "--classes", "10", "--image-size", "32",
                         "--head-epochs", "1", "--weights", "", "--no-plot",
                         "--work-dir", str(tmp_path / "images"),
                         "--json", str(tmp_path / "scale.json")])
    assert json.loads((tmp_path / "scale.json").read_text()) == result
    assert json.loads(capsys.readouterr().out) == result
    (run,) = result["sizes"]
    assert run["images"] == 200 and run["skipped_files"] == 0
    assert (run["train_images"], run["validation_images"], run["test_images"]) == (140, 20, 40)
    # Every image decoded once by the first scan, none by the second: its verdicts came
    # from the scan cache, which holds one entry per file, and gave the same images.
    assert run["first_scan_decodes"] == 200 and run["scan_cache_entries"] == 200
    assert run["second_scan_decodes"] == 0 and run["second_scan_same_images"]
    assert set(run["seconds"]) == set(bench.PHASES)
    assert set(run["seconds_per_1k_images"]) == set(bench.PHASES)
    assert run["feature_mb"] == round(160 * 1280 * 4 / 2**20, 1)  # float32, 1280 channels
    assert run["peak_memory_mb"] > run["feature_mb"]
    assert result["machine"]["cpu_count"] and result["versions"]["tlkit"]
    assert set(result["machine"]["load_average_1_5_15_min"]) == {"start", "end"}
    assert len(list((tmp_path / "images" / "images_200").iterdir())) == 10


def test_scale_summary_ratios_and_a_size_that_fits_the_time_left(
    load_script: LoadScript, tmp_path: Path,
) -> None:
    bench = load_script("benchmarks/scale.py")

    def run(images: int, peak: float) -> dict:
        return {"images": images, "peak_memory_mb": peak, "feature_mb": images * 0.004,
                "seconds": {phase: images / 100 for phase in bench.PHASES}}

    summary = bench.summarise([run(1000, 800.0), run(10_000, 836.0)])
    assert summary["time_ratios"]["10000/1000"]["images"] == 10.0
    assert summary["time_ratios"]["10000/1000"]["feature_extraction"] == 10.0
    assert summary["peak_mb_per_1k_images"] == 4.0
    assert summary["peak_minus_features_mb_per_1k_images"] == 0.0
    assert bench.fitting_size(100_000, 600.0, 0.01, 20.0) == 50_000
    assert bench.fitting_size(100_000, 600.0, 0.001, 20.0) == 100_000
    assert bench.fitting_size(100_000, 10.0, 0.01, 20.0) == 0


def test_rank_benchmark_compares_both_scores_with_the_finetuned_order(
        load_script: LoadScript, tmp_path: Path) -> None:
    bench = load_script("benchmarks/rank_backbones.py")
    runs = {"current": (0.95, 100.0), "lite0": (0.96, 120.0), "lite1": (0.97, 150.0)}
    finetuned = tmp_path / "finetuned.json"
    finetuned.write_text(json.dumps({"configs": {
        name: {"median": {"test_accuracy": acc, "test_mean_per_class_accuracy": acc},
               "runs": [{"seed": 0, "process_wall_seconds": wall}]}
        for name, (acc, wall) in runs.items()}}))
    order = bench.finetuned_order(finetuned)
    assert order["efficientnet_lite1"]["wall_seconds"] == 150.0
    # Three seeds: one fine-tuning of each backbone costs the median run, not the sum.
    seeds = tmp_path / "seeds.json"
    seeds.write_text(json.dumps({"configs": {"lite1": {
        "median": {"test_accuracy": 0.97, "test_mean_per_class_accuracy": 0.95},
        "runs": [{"seed": s, "process_wall_seconds": w} for s, w in enumerate((90, 150, 400))]}}}))
    assert bench.finetuned_order(seeds)["efficientnet_lite1"]["wall_seconds"] == 150
    ranking = {"order": ["efficientnet_lite1", "efficientnet_lite0", "mobilenet_v2"],
               "order_by_logme": ["efficientnet_lite1", "efficientnet_lite0", "mobilenet_v2"],
               "order_by_knn_accuracy": ["mobilenet_v2", "efficientnet_lite0",
                                         "efficientnet_lite1"],
               "seconds": 37.0,
               "backbones": {"mobilenet_v2": {"logme": 1.0, "knn_accuracy": 0.9},
                             "efficientnet_lite0": {"logme": 2.0, "knn_accuracy": 0.8},
                             "efficientnet_lite1": {"logme": 3.0, "knn_accuracy": 0.7}}}
    result = bench.compare(ranking, order)
    assert result["finetuned_order"] == ["efficientnet_lite1", "efficientnet_lite0",
                                         "mobilenet_v2"]
    assert result["spearman_logme"] == 1.0 and result["spearman_knn_accuracy"] == -1.0
    assert result["finetuning_wall_seconds"] == 370.0
    assert result["time_ratio_ranking_to_finetuning"] == 0.1
    assert "time_ratio_at_the_finetuning_days_speed" not in result  # no figures to scale by
    # Fine-tuned on a day twice as fast as today's ranking: its time halves at that speed.
    finetuned.write_text(json.dumps({**json.loads(finetuned.read_text()), bench.CALIBRATION:
                                     {"before": 90.0, "after": 110.0}}))
    result = bench.compare(ranking, bench.finetuned_order(finetuned), 50.0)
    assert result["time_ratio_ranking_to_finetuning"] == 0.1
    assert result["time_ratio_at_the_finetuning_days_speed"] == 0.05


def test_tta_scales_compares_the_runs_two_views_with_four(
        load_script: LoadScript, tmp_path: Path) -> None:
    """The second scale is measured on a saved run's own validation and test images; its
    two views alone and the four together are scored against the run's rule."""
    import numpy as np
    from PIL import Image

    import tlkit

    bench = load_script("benchmarks/tta_scales.py")
    rng = np.random.default_rng(0)
    for name, shade in (("dark", 50), ("light", 200)):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(15):
            pixels = np.clip(rng.normal(shade, 25, (40, 30, 3)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(tmp_path / "photos" / name / f"{i}.png")
    run = tlkit.train(tmp_path / "photos", weights=None, verbose=0, options=tlkit.TrainingOptions(
        image_size=32, head_epochs=2, finetune_epochs=1, unfreeze={0: 1}, val_fraction=0.2))
    run.save(tmp_path / "run")
    result = bench.measure(tmp_path / "run", 1.25)
    for split, part in (("validation", run.split.val), ("test", run.split.test)):
        assert result[split]["images"] == len(part)
        # The run's two views are what the run itself reports.
        assert result[split]["two_views"]["accuracy"] == pytest.approx(
            run.metrics[f"{split}_accuracy"], abs=1e-6)
        for views in ("four_views", "zoomed_two_views"):
            assert 0.0 <= result[split][views]["accuracy"] <= 1.0
    with pytest.raises(SystemExit):
        bench.main(["--run-dir", str(tmp_path / "run"), "--zoom", "1.0"])


def test_rank_benchmark_ranks_the_few_shot_images_the_example_trains_on(
        load_script: LoadScript) -> None:
    import tlkit

    bench = load_script("benchmarks/rank_backbones.py")
    example = load_script("examples/caltech101_mobilenetv2.py")
    images = tlkit.ImageSet([f"{i}.jpg" for i in range(80)], [0] * 40 + [1] * 40, ["a", "b"])
    args = example.parse_args(["--train-per-class", "6", "--seed", "0", "--output-dir",
                               "/nonexistent/run"])
    assert bench.example_module().few_shot_split(images, 6, 0).train.paths == \
        example.data_of(args, images).train.paths
