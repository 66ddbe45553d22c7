"""ImageFolder: one sub-folder per class, images found by content and checked to decode.

Real folders are messy: Caltech-101 alone has 411 grayscale JPEGs and a JPEG without an
extension. :class:`ImageFolder` finds images by their content, checks every file
decodes with the same decoder the pipeline uses, and lists each file it leaves out
with the reason, so no training run is lost to one bad file and no one has to
wonder which files were used. Verdicts are cached by path, size and modification time.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from tlkit._checks import check_bool, check_int, type_error, unknown_name_error
from tlkit._progress import progress_bar
from tlkit._storage import default_cache_dir
from tlkit.data.formats import UNREADABLE, check_decodes, check_header, is_content_verdict
from tlkit.data.imageset import ImageSet
from tlkit.data.presplit import find_split_folders, part_folder
from tlkit.data.split import Split

__all__ = ["ImageFolder"]

_SCAN_CACHE_VERSION = 1


def _scan_cache_file(root: Path, cache_dir: Path) -> Path:
    key = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]  # noqa: S324
    return cache_dir / "scans" / f"{key}.json"


def _map_in_order(pool: ThreadPoolExecutor, function: Callable[[str], Any], items: list[str],
                  window: int = 1024) -> Iterator[Any]:
    """``pool.map(function, items)`` with at most ``window`` calls submitted at a time.

    ``Executor.map`` submits every call at once, and each pending future costs about
    1.7 KB: 165 MB more at the peak for a folder of 100,000 files, for nothing.
    """
    pending: deque[Future[Any]] = deque()
    for item in items:
        if len(pending) >= window:
            yield pending.popleft().result()
        pending.append(pool.submit(function, item))
    while pending:
        yield pending.popleft().result()


class ImageFolder(ImageSet):
    """Images in one sub-folder per class, found by content and checked to decode.

    Every regular file under a class folder (sub-folders included, so a nested
    folder belongs to its class) is considered; its type is read from its first
    bytes, not its extension, so an image without an extension is found and a text
    file named ``.jpg`` is not. Each candidate is decoded once with TensorFlow (the
    decoder :meth:`to_dataset` uses), in parallel with a progress bar. Results are cached by path, size and modification time, so a second
    scan of an unchanged folder only lists it. Files left out are in ``skipped``
    with their reason; ``strict=True`` raises instead.

    Class folders are sorted by name; their index is the label. Hidden files and
    folders (starting with ``.``) are ignored.

    Args:
        root: The folder holding one sub-folder per class.
        exclude: Class folders to leave out (e.g. ``("BACKGROUND_Google",)``).
        strict: Raise on the first bad file instead of skipping it.
        verify: Decode every file (the default); ``False`` only checks the header.
        workers: Threads for the decode check (default: the CPU count).
        cache_dir: tlkit's cache folder, where scan results are kept (under
            ``scans/``): ``None`` for the default (``$TLKIT_CACHE_DIR`` or
            ``~/.cache/tlkit``), a path, or ``False`` to keep no scan results.
        verbose: ``1`` shows a progress bar while files are checked, ``0`` is silent.

    Attributes:
        root: The folder.
        paths: Paths of the images kept, sorted by class then name.
        labels: Class index of each path.
        class_names: Class folder names.
        skipped: A DataFrame of files left out, with columns ``path`` and ``reason``.
        excluded: Class folders left out by ``exclude``.

    Raises:
        FileNotFoundError: ``root`` does not exist or is not a folder.
        ValueError: ``root`` has no class folders, ``exclude`` names an unknown class,
            a class has no usable image, or (``strict``) a file is bad.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> from PIL import Image
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("cat", "dog"):
        ...     (root / name).mkdir()
        ...     Image.fromarray(np.zeros((8, 8, 3), "uint8")).save(root / name / "1.jpg")
        >>> _ = (root / "dog" / "notes.jpg").write_text("not an image")
        >>> folder = ImageFolder(root, cache_dir=False)
        >>> folder.class_names, len(folder), folder.skipped["reason"].tolist()
        (['cat', 'dog'], 2, ['not an image (unrecognised content)'])
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        exclude: Iterable[str] = (),
        strict: bool = False,
        verify: bool = True,
        workers: int | None = None,
        cache_dir: str | os.PathLike[str] | None | bool = None,
        verbose: int = 1,
    ) -> None:
        if not isinstance(root, (str, os.PathLike)):
            raise type_error("root", root, "a folder path (str or os.PathLike)")
        check_bool("strict", strict)
        check_bool("verify", verify)
        if workers is not None:
            workers = check_int("workers", workers, minimum=1)
        verbose = check_int("verbose", verbose, minimum=0)
        if cache_dir is not None and cache_dir is not False \
                and not isinstance(cache_dir, (str, os.PathLike)):
            raise type_error("cache_dir", cache_dir, "None, False or a folder path")
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"root={str(self.root)!r} does not exist or is not a folder; expected a folder "
                f"with one sub-folder of images per class."
            )
        if isinstance(exclude, str):
            exclude = (exclude,)
        exclude = list(exclude)
        folders = sorted(p.name for p in self.root.iterdir()
                         if p.is_dir() and not p.name.startswith("."))
        if not folders:
            raise ValueError(
                f"root={str(self.root)!r} has no class folders; expected one sub-folder of "
                f"images per class."
            )
        unknown = [name for name in exclude if name not in folders]
        if unknown:
            raise unknown_name_error(f"class in exclude ({unknown[0]!r} is not a folder of "
                                     f"{str(self.root)!r})", unknown[0], folders)
        self.excluded = [name for name in folders if name in exclude]
        class_names = [name for name in folders if name not in exclude]
        if not class_names:
            raise ValueError(f"exclude={exclude} leaves no class folders in {str(self.root)!r}.")

        candidates: list[tuple[str, int]] = []
        for label, name in enumerate(class_names):
            for dirpath, dirnames, filenames in os.walk(self.root / name):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for filename in sorted(filenames):
                    if not filename.startswith("."):
                        candidates.append((os.path.join(dirpath, filename), label))

        results = self._check_all([p for p, _ in candidates], verify=verify, workers=workers,
                                  cache_dir=cache_dir, verbose=verbose)
        kept_paths, kept_labels, skipped = [], [], []
        for (path, label), reason in zip(candidates, results):
            if reason is None:
                kept_paths.append(path)
                kept_labels.append(label)
            else:
                if strict:
                    raise ValueError(f"Bad image file {path!r}: {reason} (strict=True).")
                skipped.append({"path": path, "reason": reason})
        self.skipped = pd.DataFrame(skipped, columns=["path", "reason"])
        super().__init__(kept_paths, kept_labels, class_names)
        empty = [name for name, count in self.counts.items() if count == 0]
        if empty:
            raise ValueError(
                f"{len(empty)} class folders have no usable image: {empty[:10]}. Add images, or "
                f"pass exclude={empty[:10]!r}. Skipped files: {len(self.skipped)}."
            )

    def _check_all(self, paths: list[str], *, verify: bool, workers: int | None,
                   cache_dir: Any, verbose: int) -> list[str | None]:
        cache_path = None
        cached: dict[str, list[Any]] = {}
        if cache_dir is not False and verify:
            base = Path(cache_dir) if cache_dir not in (None, True) else default_cache_dir()
            cache_path = _scan_cache_file(self.root, base)
            try:
                data = json.loads(cache_path.read_text())
                if data.get("version") == _SCAN_CACHE_VERSION:
                    cached = data["files"]
            except (OSError, ValueError, KeyError):
                cached = {}
        stats: dict[str, tuple[int, int]] = {}
        results: list[str | None] = [None] * len(paths)
        todo = []
        for i, path in enumerate(paths):
            try:
                st = os.stat(path)
                stats[path] = (st.st_size, st.st_mtime_ns)
            except OSError as error:
                results[i] = f"{UNREADABLE}{error.strerror or error}"
                continue
            entry = cached.get(path)
            if entry is not None and tuple(entry[:2]) == stats[path]:
                results[i] = entry[2]
            else:
                todo.append(i)
        if todo:
            check = check_decodes if verify else check_header
            with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
                iterator = _map_in_order(pool, check, [paths[i] for i in todo])
                for i, reason in zip(todo, progress_bar(iterator, total=len(todo),
                                                        desc=f"Checking images in {self.root.name}",
                                                        unit="file", verbose=verbose)):
                    results[i] = reason
        if cache_path is not None and todo:
            # Only verdicts about content are kept: a file that could not be read this time
            # (permissions, I/O, still being copied) is checked again on the next scan.
            files = {p: [*stats[p], results[i]] for i, p in enumerate(paths)
                     if p in stats and is_content_verdict(results[i])}
            try:
                cache_path.parent.mkdir(parents=True, exist_ok=True)
                # One temporary file per process: workers of a multi-worker run scan the
                # same folder at the same time.
                tmp = cache_path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps({"version": _SCAN_CACHE_VERSION, "files": files}))
                tmp.replace(cache_path)
            except OSError:
                pass  # a read-only cache only costs speed
        return results

    @classmethod
    def from_splits(cls, root: str | os.PathLike[str], **kwargs: Any) -> Split:
        """Read a pre-split tree: ``root/{train,val,test}/<class>/`` as a :class:`tlkit.Split`.

        ``val`` may also be called ``valid`` or ``validation``. Each part is scanned as
        an :class:`ImageFolder`, then labelled by the training classes' names
        (:meth:`tlkit.Split.matched`). A missing part is empty.

        Args:
            root: The folder holding the split folders.
            **kwargs: Passed to each :class:`ImageFolder` (``exclude``, ``verbose``, ...).

        Returns:
            A :class:`tlkit.Split`; its ``train`` is an :class:`ImageFolder`.

        Raises:
            ValueError: ``root`` is not a pre-split tree (see ``find_split_folders``), or
                ``val``/``test`` has a class that ``train`` lacks.

        Example:
            >>> import tempfile, pathlib, numpy as np
            >>> from PIL import Image
            >>> root = pathlib.Path(tempfile.mkdtemp())
            >>> for part, classes in (("train", "ab"), ("val", "b")):
            ...     for name in classes:
            ...         (root / part / name).mkdir(parents=True)
            ...         Image.fromarray(np.zeros((8, 8), "uint8")).save(root / part / name / "1.png")
            >>> parts = ImageFolder.from_splits(root, cache_dir=False, verbose=0)
            >>> [len(p) for p in parts], parts.val.class_names, parts.val.labels.tolist()
            ([2, 1, 0], ['a', 'b'], [1])
        """
        if not isinstance(root, (str, os.PathLike)):
            raise type_error("root", root, "a folder path (str or os.PathLike)")
        if not Path(root).is_dir():
            raise FileNotFoundError(f"root={str(root)!r} does not exist or is not a folder.")
        folders = find_split_folders(root)
        if folders is None:
            raise ValueError(
                f"root={str(root)!r} is not a pre-split tree: expected only the folders train, "
                f"val (or valid, validation) and test, each with one sub-folder per class. "
                f"Use ImageFolder(root) for one sub-folder per class.")
        exclude = kwargs.pop("exclude", ())
        exclude = [exclude] if isinstance(exclude, str) else list(exclude)
        train = cls(folders["train"], exclude=[e for e in exclude if (folders["train"] / e)
                                               .is_dir()], **kwargs)
        rest = [part_folder(cls, folders[part], exclude, **kwargs) if part in folders else None
                for part in ("val", "test")]
        return Split(train, *(p if p is not None else ImageSet([], [], train.class_names)
                              for p in rest)).matched()

    def summary(self) -> str:
        """A few lines on what was found and skipped.

        Example:
            >>> import tempfile, pathlib, numpy as np
            >>> from PIL import Image
            >>> root = pathlib.Path(tempfile.mkdtemp())
            >>> for name in ("a", "b"):
            ...     (root / name).mkdir()
            ...     Image.fromarray(np.zeros((8, 8), "uint8")).save(root / name / "x.png")
            >>> _ = (root / "b" / "empty.jpg").write_bytes(b"")
            >>> print(ImageFolder(root, cache_dir=False).summary().split(": ", 1)[1])
            2 images in 2 classes (1 to 1 per class)
              skipped 1 files:
                ... empty file
        """
        counts = self.counts
        lines = [f"ImageFolder {str(self.root)!r}: {len(self)} images in {self.num_classes} classes "
                 f"({counts.min()} to {counts.max()} per class)"]
        if self.excluded:
            lines.append(f"  excluded classes: {', '.join(self.excluded)}")
        if len(self.skipped):
            lines.append(f"  skipped {len(self.skipped)} files:")
            for row in self.skipped.head(10).itertuples():
                lines.append(f"    {row.path}: {row.reason}")
        return "\n".join(lines)

