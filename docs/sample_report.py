"""Make the documentation's sample run (docs/_static/caltech101_run/) from a flagship run.

    python docs/sample_report.py RUN_DIR --data-root PATH/caltech101 \\
        --output docs/_static/caltech101_run

RUN_DIR is a run folder written by ``examples/caltech101_mobilenetv2.py`` (or ``tlkit
train``) with its ``split.csv``. The test split is evaluated again so that the report
names its images relative to ``--data-root`` (no machine paths in the docs); the training
curves, augmentation preview and metrics are copied beside it, as in a run folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import tlkit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data-root", type=Path, required=True,
                        help="the folder holding 101_ObjectCategories")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    run = tlkit.TrainingRun.load(args.run_dir)
    test = run.split.test
    output = args.output.resolve()
    files = [os.path.abspath(p) for p in test.paths]  # before leaving the working directory
    os.chdir(args.data_root)  # the report's paths are relative to the data root
    relative = tlkit.ImageSet([os.path.relpath(p) for p in files], test.labels,
                              test.class_names)
    report = run.evaluate(relative, verbose=0)
    report.context.update(run.report_context(
        f"{len(test):,} test images of Caltech-101 (101_ObjectCategories without "
        f"BACKGROUND_Google; stratified 20 % split, seed {run.options.seed})", split="test"))
    if "validation_accuracy" in run.metrics:  # beside the test figure on the first screen
        report.context["validation accuracy"] = (
            f"{100 * run.metrics['validation_accuracy']:.1f} % of "
            f"{run.metrics['validation_images']:,} images")
    output.mkdir(parents=True, exist_ok=True)
    shutil.copy(args.run_dir / "metrics.json", output / "metrics.json")
    train = run.split.train  # four training images of four classes, as a run draws them
    pick = train.subset([round(i * (len(train) - 1) / 3) for i in range(4)])
    sample = next(pick.to_dataset(4, image_size=run.image_size).as_numpy_iterator())[0]
    run.options.policy().preview(sample, n=5, labels=[run.class_names[y] for y in pick.labels]
                                 ).savefig(output / "augmentation_preview.png", dpi=72)
    run.plot_history()[0].figure.savefig(output / "history.png", dpi=100)  # today's figure
    report.save(output / "report", overwrite=True,
                links={"training curves": "../history.png", "run metrics": "../metrics.json"})
    print(f"{output / 'report' / 'index.html'}: accuracy {report.accuracy:.4f}")


if __name__ == "__main__":
    main()
