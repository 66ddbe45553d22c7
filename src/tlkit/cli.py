"""The ``tlkit`` command: train, evaluate, predict and list backbones, over the public API.

    tlkit train FOLDER --output-dir DIR [--backbone NAME] [--weights imagenet|PATH] [--quick]
    tlkit evaluate RUN_DIR FOLDER [--output-dir DIR]
    tlkit predict RUN_DIR IMAGE_OR_FOLDER... [--top-k K] [--format table|json|csv]
    tlkit export RUN_DIR --format savedmodel|tflite|onnx
                 [--quantize none|float16|dynamic|int8|int8-safe]
                 [--check validation|test|none] [--max-drop PT] [--data-root DIR]
    tlkit audit FOLDER --output-dir DIR [--backbone B] [--weights W] [--image-size N]
    tlkit backbones [--rank FOLDER [--candidates NAME...] [--weights [NAME=]W]... [--sample N]]

``evaluate`` and ``predict`` take an exported model (a ``.tflite`` or ``.onnx`` file, or a
SavedModel folder, recognised by what it holds) in place of RUN_DIR:
:func:`tlkit.load_predictor`.

Every option of :class:`tlkit.TrainingOptions` has a flag of the same name.

Errors. A *usage error* exits with status 2 and prints one line naming what was wrong:
anything argparse rejects, and a ``ValueError``, ``TypeError``, ``FileNotFoundError`` or
``FileExistsError`` raised by a ``raise`` statement in tlkit's own code (tlkit raises
these only when it checks what it was given: options, names, folders, files). Anything
else is an *internal error* (a bug, a TensorFlow or Keras failure, those same types raised
inside another library or by Python itself): the traceback is printed and the status
is 1. ``--debug`` prints the traceback of a usage error too.

Start-up. Building the parser imports no TensorFlow (``tlkit --help`` and
``tlkit COMMAND --help`` return at once); a command imports it when it runs. Unless
``--verbose 2``, TensorFlow's C++ and absl log lines are kept out of the output: the
import sets ``TF_CPP_MIN_LOG_LEVEL=3`` when the user has not set it (even its ERROR lines,
such as "failed call to cuInit" on a machine without a GPU, are noise here: a failure that
matters raises an exception, reported as above; a value set by the user is kept, and
``0`` shows everything), and the lines TensorFlow 2.21 writes while it loads, before
absl logging is initialised and regardless of that variable, are sent to ``/dev/null``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from tlkit._cli_parser import _OPTION_FLAGS, _parser  # TensorFlow-free: --help is instant
from tlkit._constants import QUICK
from tlkit._quiet import stderr_to_devnull  # TensorFlow-free

__all__ = ["main"]


def _options(args: argparse.Namespace) -> Any:
    from tlkit.workflow import TrainingOptions

    given = {name: getattr(args, name) for name, _, _, _ in _OPTION_FLAGS
             if getattr(args, name) is not None}
    if args.no_tta:
        given["tta"] = False
    if args.no_calibrate:
        given["calibrate"] = False
    return TrainingOptions(**{**(QUICK if args.quick else {}), **given})


def _train(args: argparse.Namespace) -> int:
    from tlkit.workflow import RUN_FILES, is_chief, make_strategy, train

    options = _options(args)  # bad values fail before anything is read
    strategy = make_strategy(args.strategy)  # a bad TF_CONFIG, too
    existing = [n for n in RUN_FILES if (args.output_dir / n).exists()]
    if existing and not args.overwrite and is_chief(strategy):
        raise FileExistsError(f"--output-dir {str(args.output_dir)!r} already holds a run "
                              f"({', '.join(existing)}); pass --overwrite or choose another")
    weights = None if args.weights.lower() == "none" else args.weights
    run = train(args.folder, backbone=args.backbone, weights=weights, options=options,
                strategy=strategy, backup_dir=args.backup_dir, memory_gib=args.memory_gib,
                verbose=args.verbose)
    folder = run.save(args.output_dir, overwrite=args.overwrite)  # the chief only
    if not is_chief(strategy):
        return 0
    if args.verbose:
        report = run.reports.get("test") or run.reports.get("validation")
        print(report if report is not None else run)
    summary = {k: v for k, v in run.metrics.items() if k != "unfreeze_events"}
    print(json.dumps(summary, indent=2))
    print(f"run folder: {folder}", file=sys.stderr)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from tlkit.inference import load_predictor

    model = load_predictor(args.run_dir)
    report = model.evaluate(args.folder, verbose=args.verbose)
    print(report)
    if args.output_dir is not None:
        report.save(args.output_dir, overwrite=args.overwrite)
        print(f"report: {args.output_dir / 'index.html'}", file=sys.stderr)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from tlkit.inference import load_predictor

    model = load_predictor(args.run_dir)
    table = model.predict(args.images, top_k=args.top_k, verbose=min(args.verbose, 1))
    if args.format == "json":
        rows = [{"path": r.path, "error": r.error,
                 "predictions": [{"class": c, "probability": p} for c, p in (r.top or [])]}
                for r in table.itertuples()]
        print(json.dumps(rows, indent=2))
    elif args.format == "csv":
        flat = table.drop(columns="top").assign(top=[
            "" if top is None else ";".join(f"{c}={p:.6f}" for c, p in top) for top in table["top"]])
        flat.to_csv(sys.stdout, index=False)
    else:
        for r in table.itertuples():
            if r.error:
                print(f"{r.path}\tERROR {r.error}")
            else:
                print(f"{r.path}\t" + "  ".join(f"{c} {p:.3f}" for c, p in r.top))
    bad = int(table["error"].notna().sum())
    if bad:
        print(f"{bad} of {len(table)} files could not be read (see 'error')", file=sys.stderr)
    return 0


def _export(args: argparse.Namespace) -> int:
    from tlkit.data import ImageFolder
    from tlkit.export import export_model
    from tlkit.model_card import ModelCard
    from tlkit.workflow import TrainingRun

    run = TrainingRun.load(args.run_dir, data_root=args.data_root)
    name = {"savedmodel": "savedmodel", "onnx": "model.onnx"}.get(
        args.format, f"model_{args.quantize}.tflite")
    output = args.output or args.run_dir / "export" / name
    representative = ImageFolder(args.representative, verbose=min(args.verbose, 1)) \
        if args.representative else None
    path = export_model(run, output, format=args.format, quantize=args.quantize,
                        representative=representative, overwrite=args.overwrite,
                        check=None if args.check == "none" else args.check,
                        max_drop=args.max_drop / 100)
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() \
        else path.stat().st_size
    print(f"{path}\t{size / 1e6:.2f} MB")
    fidelity = ModelCard.read(path).details.get("fidelity", {})
    if fidelity.get("checked"):
        f = fidelity
        print(f"checked on {f['images']:,} {f['split']} images: accuracy "
              f"{f['source_accuracy']:.2%} (run) -> {f['export_accuracy']:.2%} (export), "
              f"{f['accuracy_delta_points']:+.2f} pt; top-1 agreement {f['top1_agreement']:.2%}; "
              f"largest probability change {f['max_probability_change']:.3f}; "
              f"{f['latency_ms_per_image']:.1f} ms per image")
    elif fidelity:
        print(f"not checked: {fidelity['reason']}", file=sys.stderr)
    return 0


def _audit(args: argparse.Namespace) -> int:
    from tlkit.auditing import AUDIT_FILES, audit

    if not args.overwrite and any((args.output_dir / n).exists() for n in AUDIT_FILES):
        raise FileExistsError(f"--output-dir {str(args.output_dir)!r} already holds an audit; "
                              f"pass --overwrite or choose another")
    weights = None if args.weights.lower() == "none" else args.weights
    found = audit(args.folder, backbone=args.backbone, weights=weights,
                  image_size=args.image_size, verbose=args.verbose)
    found.save(args.output_dir, overwrite=args.overwrite)
    print(json.dumps(found.to_dict(), indent=2))
    print(f"audit: {args.output_dir / 'index.html'}", file=sys.stderr)
    return 0


def _rank_weights(given: list[str] | None, names: Any) -> Any:
    """``--weights`` values: one for every candidate, and/or ``NAME=W`` for one of them."""
    every: Any = "imagenet"
    own: dict[str, Any] = {}
    for text in given or []:
        head, _, tail = text.partition("=")
        named = bool(tail) and os.sep not in head
        value = tail if named else text
        value = None if value.lower() == "none" else value
        if named:
            own[head] = value
        else:
            every = value
    unknown = sorted(set(own) - set(names))
    if unknown:
        raise ValueError(f"--weights {unknown[0]}=... names a backbone that is not a candidate "
                         f"(candidates: {', '.join(names)})")
    return {name: own.get(name, every) for name in names} if own else every


def _rank(args: argparse.Namespace) -> int:
    from tlkit.ranking import DEFAULT_CANDIDATES, rank_backbones

    weights = _rank_weights(args.weights, args.candidates or DEFAULT_CANDIDATES)
    ranking = rank_backbones(args.rank, args.candidates, sample=args.sample, weights=weights,
                             image_size=args.image_size, by=args.by, verbose=args.verbose)
    if args.format == "json":
        print(json.dumps(ranking.to_dict(), indent=2))
    else:
        print(ranking)
        print(f"predicted order ({args.by}): {' > '.join(ranking.order)}")
    return 0


def _backbones(args: argparse.Namespace) -> int:
    if args.rank is not None:
        return _rank(args)
    if args.candidates or args.weights:
        raise ValueError("--candidates and --weights choose what --rank FOLDER ranks; "
                         "pass --rank FOLDER too (alone, `tlkit backbones` lists the registry)")
    from tlkit.backbones import backbone_blocks, build_backbone, get_backbone_spec, list_backbones

    print(f"{'name':<20} {'size':>5} {'parameters':>12} {'blocks':>6} {'features':>8}  description")
    for name in list_backbones():
        spec = get_backbone_spec(name)
        model = build_backbone(name, image_size=spec.default_size, weights=None)
        print(f"{name:<20} {spec.default_size:>5} {model.count_params():>12,} "
              f"{len(backbone_blocks(model)):>6} {spec.feature_dim or '?':>8}  "
              f"{spec.description}")
    return 0


_USAGE_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError)
_PACKAGE = str(Path(__file__).resolve().parent)


def _is_usage_error(error: BaseException) -> bool:
    """A check of tlkit's rejected what it was given (see the module docstring).

    True for a ValueError, TypeError, FileNotFoundError or FileExistsError whose innermost
    frame is a ``raise`` statement in tlkit's own source; the same types raised inside
    another library or by Python itself (``None + 1`` in a bug) are internal.
    """
    if not isinstance(error, _USAGE_ERRORS) or error.__traceback__ is None:
        return False
    frame = traceback.extract_tb(error.__traceback__)[-1]
    inside = str(Path(frame.filename).resolve()).startswith(_PACKAGE + os.sep)
    return inside and (frame.line or "").lstrip().startswith("raise ")


def _prepare_tensorflow(verbose: int) -> None:
    """Import TensorFlow before a command runs, without its log lines unless ``verbose`` 2.

    A ``TF_CPP_MIN_LOG_LEVEL`` the user set is kept, and ``0`` lets every line through.
    """
    if "tensorflow" in sys.modules or verbose >= 2:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if os.environ["TF_CPP_MIN_LOG_LEVEL"].strip() in ("", "0"):
        return
    with stderr_to_devnull():  # TF 2.21 logs while it loads, whatever the variable says
        import tensorflow as tf
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)
    tf.get_logger().setLevel("ERROR")


def main(argv: list[str] | None = None) -> int:
    """Run the ``tlkit`` command line.

    Args:
        argv: The arguments after ``tlkit`` (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 after an internal error (its traceback printed).
        A usage error raises ``SystemExit(2)`` after one line on stderr, as argparse does.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    handlers = {"train": _train, "evaluate": _evaluate, "predict": _predict,
                "export": _export, "audit": _audit, "backbones": _backbones}
    try:
        _prepare_tensorflow(getattr(args, "verbose", 1))
        status = handlers[args.command](args)
        sys.stdout.flush()  # a reader that has gone shows here, not at interpreter exit
        return status
    except BrokenPipeError:  # the reader stopped early (``tlkit evaluate ... | head``): fine
        # Python would complain again when it flushes stdout at exit: point it at nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:  # noqa: BLE001 - sorted into usage and internal errors
        if _is_usage_error(error):
            if args.debug:
                traceback.print_exc()
            line = " ".join(str(error).split())
            parser.exit(2, f"tlkit {args.command}: error: {line}\n")
        traceback.print_exc()
        print(f"tlkit {args.command}: internal error ({type(error).__name__}), not a problem "
              "with the arguments; the traceback above says where", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
