"""Image formats by content, and the check that a file decodes as the pipeline will decode it."""

from __future__ import annotations

import tensorflow as tf

__all__ = ["detect_image_format"]

UNREADABLE = "unreadable: "
"""Prefix of the reasons that say the file could not be READ (permissions, I/O, a file
still being copied): a fact about this moment, not about the file's content, so it is
never cached (see :func:`is_content_verdict`)."""

_MAGIC = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
)


def detect_image_format(header: bytes) -> str | None:
    """Return ``"jpeg"``, ``"png"``, ``"gif"``, ``"bmp"`` or ``"webp"`` from a file's first bytes.

    Args:
        header: At least the first 12 bytes of the file.

    Returns:
        The format, or ``None`` if the bytes are not one tlkit decodes.

    Example:
        >>> detect_image_format(b"\\x89PNG\\r\\n\\x1a\\n...."), detect_image_format(b"hello")
        ('png', None)
    """
    for magic, name in _MAGIC:
        if header.startswith(magic):
            return name
    if header[:4] == b"RIFF" and header[8:12] == b"WEBP":
        return "webp"
    return None


def sniff(path: str) -> tuple[str | None, str | None]:
    """Return ``(format, None)`` for an image file by its first bytes, else ``(None, reason)``."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(16)
    except OSError as error:
        return None, f"{UNREADABLE}{error.strerror or error}"
    if not header:
        return None, "empty file"
    kind = detect_image_format(header)
    return (kind, None) if kind else (None, "not an image (unrecognised content)")


def check_header(path: str) -> str | None:
    """Return ``None`` if ``path`` starts like an image, else the reason it does not."""
    return sniff(path)[1]


def check_decodes(path: str) -> str | None:
    """Return ``None`` if ``path`` is a decodable image, else the reason it is not."""
    kind, problem = sniff(path)
    if problem is not None:
        return problem
    try:
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    except tf.errors.InvalidArgumentError as error:  # the bytes are not a valid image
        message = str(error.message if hasattr(error, "message") else error).split("\n")[0]
        return f"cannot decode {kind}: {message[:120]}"
    except tf.errors.OpError as error:  # reading failed (not found, permission, I/O)
        message = str(error.message if hasattr(error, "message") else error).split("\n")[0]
        return f"{UNREADABLE}{message[:120]}"
    if image.shape[0] == 0 or image.shape[1] == 0:
        return f"{kind} has no pixels"
    return None


def is_content_verdict(reason: str | None) -> bool:
    """Whether a check's result is about the file's content (and so may be cached)."""
    return reason is None or not reason.startswith(UNREADABLE)
