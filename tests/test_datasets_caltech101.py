"""Tests for tlkit.datasets.caltech101, against archives served from 127.0.0.1 only."""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tlkit.datasets import download_file, fetch_caltech101


def _fake_archive(classes: int = 102) -> bytes:
    """A zip laid out like the official one, with one tiny file per class."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w:gz") as tar:
        for i in range(classes):
            data = f"image {i}".encode()
            info = tarfile.TarInfo(f"101_ObjectCategories/class_{i:03d}/image_0001.jpg")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    zip_bytes = io.BytesIO()
    with zipfile.ZipFile(zip_bytes, "w") as archive:
        archive.writestr("caltech-101/101_ObjectCategories.tar.gz", tar_bytes.getvalue())
        archive.writestr("caltech-101/Annotations.tar", b"not needed")
    return zip_bytes.getvalue()


class _Server:
    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.hits = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.hits += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(server.payload)))
                self.end_headers()
                self.wfile.write(server.payload)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/caltech-101.zip?download=1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server() -> Iterator[_Server]:
    srv = _Server(_fake_archive())
    yield srv
    srv.close()


def test_download_verify_extract_and_reuse(server: _Server, tmp_path: Path) -> None:
    md5 = hashlib.md5(server.payload).hexdigest()
    folder = fetch_caltech101(cache_dir=tmp_path, url=server.url, md5=md5, verbose=0)
    assert folder == tmp_path / "caltech101" / "101_ObjectCategories"
    assert len([p for p in folder.iterdir() if p.is_dir()]) == 102
    assert (folder / "class_005" / "image_0001.jpg").read_bytes() == b"image 5"
    assert server.hits == 1
    again = fetch_caltech101(cache_dir=tmp_path, url=server.url, md5=md5, verbose=0)
    assert again == folder and server.hits == 1  # reused, not downloaded again
    # No temporary files are left behind.
    assert not list((tmp_path / "caltech101").glob("*.part"))


def test_checksum_mismatch_keeps_nothing(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Checksum mismatch.*expected MD5 0{32}"):
        fetch_caltech101(cache_dir=tmp_path, url=server.url, md5="0" * 32, verbose=0)
    leftovers = list((tmp_path / "caltech101").iterdir())
    assert leftovers == []


def test_offline_error_says_how_to_use_a_local_copy(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port on loopback that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionError, match="data_dir="):
        fetch_caltech101(cache_dir=tmp_path, url=f"http://127.0.0.1:{port}/x.zip", verbose=0)
    with pytest.raises(FileNotFoundError, match="download=False"):
        fetch_caltech101(cache_dir=tmp_path, download=False)


def test_wrong_archive_content(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("something/else.txt", b"x")
    with pytest.raises(ValueError, match="has no 101_ObjectCategories.tar.gz"):
        fetch_caltech101(cache_dir=tmp_path / "c", url=bad.as_uri(), md5=None, verbose=0)
    not_zip = tmp_path / "not.zip"
    not_zip.write_bytes(b"plain text")
    with pytest.raises(ValueError, match="not a valid zip"):
        fetch_caltech101(cache_dir=tmp_path / "d", url=not_zip.as_uri(), md5=None, verbose=0)


def test_download_file_progress_and_reuse(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(b"x" * 5000)
    md5 = hashlib.md5(b"x" * 5000).hexdigest()
    out = download_file(source.as_uri(), tmp_path / "dst.bin", md5=md5, verbose=1)
    assert out.read_bytes() == b"x" * 5000
    assert "Downloading dst.bin" in capsys.readouterr().err
    source.unlink()  # a verified existing file is reused, the source is not read again
    assert download_file(source.as_uri(), out, md5=md5, verbose=0) == out


def test_local_copy_layout_is_checked(tmp_path: Path) -> None:
    (tmp_path / "101_ObjectCategories" / "only_one").mkdir(parents=True)
    with pytest.raises(ValueError, match="found 1"):
        fetch_caltech101(tmp_path)
    with pytest.raises(FileNotFoundError, match="data_dir="):
        fetch_caltech101(tmp_path / "missing")


@pytest.mark.real_data
def test_real_local_copy(caltech_dir: Path) -> None:
    assert fetch_caltech101(caltech_dir) == caltech_dir
    assert fetch_caltech101(caltech_dir.parent) == caltech_dir


def test_load_caltech101_sends_cache_dir_and_verbose_to_the_download_and_the_scan(
    tmp_path: Path, capsys: pytest.CaptureFixture,
) -> None:
    import numpy as np
    from PIL import Image

    from tlkit._storage import default_cache_dir
    from tlkit.datasets import load_caltech101

    cache = tmp_path / "my-cache"
    root = cache / "caltech101" / "101_ObjectCategories"
    for i in range(101):
        (root / f"class_{i:03d}").mkdir(parents=True)
        Image.fromarray(np.full((4, 4, 3), i, "uint8")).save(root / f"class_{i:03d}" / "a.png")
    default_scans = default_cache_dir() / "scans"
    before = set(default_scans.glob("*.json")) if default_scans.is_dir() else set()
    # download=False: it can only succeed by looking in cache_dir for the archive's folder.
    folder = load_caltech101(cache_dir=cache, download=False, verbose=0)
    assert folder.root == root and len(folder) == 101
    assert list((cache / "scans").glob("*.json")), "the scan results went elsewhere"
    after = set(default_scans.glob("*.json")) if default_scans.is_dir() else set()
    assert after == before  # nothing written to the default cache folder
    assert capsys.readouterr().err == ""  # verbose=0: no progress bar anywhere


def test_download_file_never_replaces_a_file_it_cannot_vouch_for(tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(b"new")
    mine = tmp_path / "mine.bin"
    mine.write_bytes(b"my own data")
    with pytest.raises(FileExistsError, match="no md5 was given.*it is kept"):
        download_file(source.as_uri(), mine, verbose=0)
    with pytest.raises(FileExistsError, match="its MD5 differs"):
        download_file(source.as_uri(), mine, md5=hashlib.md5(b"new").hexdigest(), verbose=0)
    assert mine.read_bytes() == b"my own data"
    download_file(source.as_uri(), mine, verbose=0, overwrite=True)
    assert mine.read_bytes() == b"new"
