"""--download against a local HTTP server on 127.0.0.1 serving real files: nothing leaves
the machine."""

from __future__ import annotations

import functools
import gzip
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rnnlab.data.download import download_dataset, verify
from rnnlab.data.images import DATASETS, load_split
from rnnlab.errors import DataError


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def mirror(tmp_path):
    """A folder served over HTTP on 127.0.0.1; yields (folder, base_url)."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(_Quiet, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_download_fetches_and_verifies(data_dir, mirror, tmp_path):
    served, url = mirror
    for f in (data_dir / "MNIST" / "raw").glob("*.gz"):
        shutil.copy(f, served / f.name)
    root = tmp_path / "fresh"
    folder = download_dataset(DATASETS["mnist"], root, mirrors=[url])
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in served.iterdir())
    x, y = load_split(root, DATASETS["mnist"], "test")
    assert x.shape == (10000, 28, 28)
    # a second call finds everything present and verified: nothing to fetch
    download_dataset(DATASETS["mnist"], root, mirrors=["http://127.0.0.1:9/unused/"])


def test_download_uses_the_mirror_environment_variable(data_dir, mirror, tmp_path, monkeypatch):
    served, url = mirror
    for f in (data_dir / "FashionMNIST" / "raw").glob("*.gz"):
        shutil.copy(f, served / f.name)
    monkeypatch.setenv("RNNLAB_MIRROR", url)
    from rnnlab.cli import main

    assert main(["download", "fashion-mnist", "--data-dir", str(tmp_path / "d")]) == 0
    # Debian re-compressed these files: they pass on the md5 of their decompressed content
    for f in (tmp_path / "d" / "FashionMNIST" / "raw").iterdir():
        assert verify(f, DATASETS["fashion-mnist"].md5[f.name[:-3]])


def test_download_from_python_takes_one_name_or_several(data_dir, mirror, tmp_path, monkeypatch):
    import rnnlab

    served, url = mirror
    for f in (data_dir / "MNIST" / "raw").glob("*.gz"):
        shutil.copy(f, served / f.name)
    monkeypatch.setenv("RNNLAB_MIRROR", url)
    monkeypatch.setenv("RNNLAB_DATA", str(tmp_path / "env"))
    assert rnnlab.download("mnist") == [tmp_path / "env" / "MNIST" / "raw"]
    (folder,) = rnnlab.download(["mnist"], data_dir=tmp_path / "arg")
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in served.iterdir())


def test_corrupt_download_is_rejected_and_not_kept(data_dir, mirror, tmp_path):
    served, url = mirror
    for f in (data_dir / "MNIST" / "raw").glob("*.gz"):
        shutil.copy(f, served / f.name)
    (served / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01tampered"))
    root = tmp_path / "fresh"
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz .*checksum mismatch"):
        download_dataset(DATASETS["mnist"], root, mirrors=[url])
    raw = root / "MNIST" / "raw"
    assert not (raw / "t10k-labels-idx1-ubyte.gz").exists()
    assert not list(raw.glob(".*part"))


def test_unreachable_mirror_is_one_line(tmp_path):
    with pytest.raises(DataError, match="could not download train-images-idx3-ubyte.gz") as err:
        download_dataset(DATASETS["mnist"], tmp_path, mirrors=["http://127.0.0.1:9/"], timeout=2)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "MNIST").exists()  # the folders it made for nothing are gone


def test_existing_corrupt_file_is_reported(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte.gz").write_bytes(b"junk")
    with pytest.raises(DataError, match="fails its checksum .*delete it"):
        download_dataset(DATASETS["mnist"], tmp_path, mirrors=["http://127.0.0.1:9/"])


@pytest.mark.parametrize("mirror_url", ["notaurl", "http://[::1"])
def test_a_mistyped_mirror_is_one_line(tmp_path, mirror_url):
    with pytest.raises(DataError, match="a mirror is an http") as err:
        download_dataset(DATASETS["mnist"], tmp_path, mirrors=[mirror_url], timeout=2)
    assert "\n" not in str(err.value)


def test_a_folder_where_a_file_goes_is_reported(tmp_path):
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").mkdir(parents=True)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz is in the way \(not a file\)"):
        download_dataset(DATASETS["mnist"], tmp_path, mirrors=["http://127.0.0.1:9/"])
