"""Fetch the MNIST family from the official mirrors and verify every file's checksum.

A file is accepted when the md5 of its decompressed content (or of the .gz itself) is one of
the published ones; re-compressed copies (Debian's, for instance) are accepted that way too.
Downloads go to a temporary name and are renamed only once verified.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from pathlib import Path

from rnnlab.data.idx import GZIP_MAGIC
from rnnlab.data.images import SPLIT_FILES, ImageDataset, find_file, get_dataset, raw_folder
from rnnlab.data.paths import resolve_data_dir
from rnnlab.errors import ConfigError, DataError

# Tests and private mirrors can point elsewhere, e.g. RNNLAB_MIRROR=http://127.0.0.1:8000/
MIRROR_ENV = "RNNLAB_MIRROR"


def md5_of(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def verify(path: Path, accepted: Sequence[str]) -> bool:
    """True when the file (or its decompressed content) has one of the accepted md5s."""
    return _accepted(path.read_bytes(), accepted)


def _accepted(data: bytes, accepted: Sequence[str]) -> bool:
    """The bytes themselves, or their gzip content (whatever the file's name), match."""
    if md5_of(data) in accepted:
        return True
    if data[:2] != GZIP_MAGIC:
        return False
    try:
        return md5_of(gzip.decompress(data)) in accepted
    except (OSError, EOFError, zlib.error):
        return False


def download_dataset(
    dataset: ImageDataset,
    root: Path,
    mirrors: Sequence[str] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Make sure all four files of `dataset` are in root/<Folder>/raw/, fetching the missing
    ones; files already there are checked, not fetched again."""
    folder = raw_folder(root, dataset)
    made = [p for p in (folder, *folder.parents) if not p.exists()]  # ours to remove again
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create {folder} ({exc.strerror}); choose another --data-dir"
        ) from None
    if mirrors is None:
        mirrors = [os.environ[MIRROR_ENV]] if os.environ.get(MIRROR_ENV) else dataset.mirrors
    try:
        for stem in (s for pair in SPLIT_FILES.values() for s in pair):
            accepted = dataset.md5[stem]
            present = find_file(root, dataset, stem)
            if present is not None:
                if verify(present, accepted):
                    continue
                raise DataError(
                    f"{present} fails its checksum (corrupt or truncated); delete it and run "
                    "the download again"
                )
            _fetch(stem, folder, mirrors, accepted, timeout)
    except BaseException:
        for path in made:  # a failed first download leaves no empty folders behind
            with contextlib.suppress(OSError):
                path.rmdir()  # only if still empty
        raise
    return folder


def download(
    datasets: str | Sequence[str] = "mnist", data_dir: str | Path | None = None
) -> list[Path]:
    """Fetch (or check) "mnist" / "fashion-mnist" under the data root (`data_dir`, else
    $RNNLAB_DATA, else the user cache), verifying every file's md5; the raw folder of each."""
    from rnnlab.arguments import check_arguments

    check_arguments(data_dir=data_dir)
    try:
        names = [datasets] if isinstance(datasets, str) else list(datasets)
    except TypeError:
        names = None
    if names is None or not all(isinstance(n, str) for n in names):
        raise ConfigError(
            f"datasets must be a name or a list of names (e.g. ['mnist', 'fashion-mnist']), "
            f"got {datasets!r}"
        )
    if not names:
        raise DataError("name the data sets to download, e.g. mnist fashion-mnist")
    # every name is checked before the first fetch: a typo in the second must not leave the
    # first half-downloaded (or an empty folder) behind
    found = [get_dataset(name) for name in names]
    root = resolve_data_dir(data_dir)
    return [download_dataset(dataset, root) for dataset in found]


def _fetch(
    stem: str, folder: Path, mirrors: Sequence[str], accepted: Sequence[str], timeout: float
) -> None:
    target = folder / f"{stem}.gz"
    if target.exists() and not target.is_file():
        raise DataError(f"{target} is in the way (not a file); remove it and download again")
    errors = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + f"/{stem}.gz"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                data = response.read()
        except ValueError as exc:  # not a URL at all: a typo in the mirror
            errors.append(f"{url}: {exc}; a mirror is an http(s):// address")
            continue
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            errors.append(f"{url}: {_failure(exc)}")
            continue
        if _accepted(data, accepted):
            _write_verified(target, data)
            return
        errors.append(f"{url}: checksum mismatch")
    raise DataError(
        f"could not download {stem}.gz ({'; '.join(errors)}); check the network or copy the "
        f"files into {folder} by hand"
    )


def _failure(exc: BaseException) -> str:
    """What went wrong with one mirror, in words: 'HTTP 404 Not Found', 'the connection
    closed after 4,956,211 of 9,912,422 bytes', 'timed out'."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, http.client.IncompleteRead):
        got = len(exc.partial)
        total = f" of {got + exc.expected:,}" if exc.expected is not None else ""
        return f"the connection closed after {got:,}{total} bytes"
    return str(getattr(exc, "reason", None) or exc)


def _write_verified(target: Path, data: bytes) -> None:
    """Put checked bytes in place in one rename. The temporary name is this call's own:
    parallel runs with --download (compare --jobs, sweep workers) fetch the same file into
    the same folder at once, and a shared name let one rename away, or overwrite, the file
    the other was writing."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as exc:
        raise DataError(
            f"cannot write to {target.parent} ({exc.strerror}); choose another --data-dir"
        ) from None
    try:
        # mkstemp's file is private (0600); data files get the mode open() would give
        mask = os.umask(0)
        os.umask(mask)
        os.fchmod(fd, 0o666 & ~mask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # on disk before the rename makes it the real file
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)  # Ctrl-C or a full disk leaves no part behind
        if isinstance(exc, OSError):
            raise DataError(
                f"cannot write {target} ({exc.strerror}); free some space or choose another "
                "--data-dir"
            ) from None
        raise
