"""Locating and downloading data files.

Every loader in :mod:`minstn.data` resolves its files the same way:

1. ``$MINSTN_DATA/<subdir>/<filename>`` if the environment variable
   ``MINSTN_DATA`` is set (a folder holding ``mnist/`` and ``physionet2012/``);
2. ``<cache>/<subdir>/<filename>`` where ``<cache>`` is ``$MINSTN_CACHE`` or
   ``~/.cache/minstn``;
3. otherwise the file is downloaded into the cache, trying each mirror in turn.

Downloads go through the module attribute :data:`urlopen`, so tests can replace
it (``monkeypatch.setattr(_download, "urlopen", fake)``) to serve local bytes
instead of touching the network.  ``fetch`` and ``find_file`` also accept an
``opener=`` argument for the same purpose.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path
from typing import Callable, Iterable, Optional

__all__ = ["data_root", "cache_dir", "fetch", "find_file", "file_digest", "urlopen",
           "DataNotFoundError"]

#: The function used to open URLs: ``urlopen(url, timeout=...)`` must return a
#: context manager with ``.read(n)`` and optionally ``.headers``.  Replace it in
#: tests to serve local bytes.
urlopen = urllib.request.urlopen

_CHUNK = 1 << 20
_TIMEOUT_S = 30.0
# the repository root (…/minstn/data/_download.py -> …): relative MINSTN_DATA
# paths are also tried relative to it, so demos can run from any folder.
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


class DataNotFoundError(RuntimeError):
    """A data file is neither in ``$MINSTN_DATA`` nor in the cache, and downloading it failed."""


def data_root() -> Optional[Path]:
    """Return the folder named by ``$MINSTN_DATA``, or None when the variable is unset/empty.

    A relative path is resolved against the current directory first, then against the
    project root (the folder holding the ``minstn`` package), so ``MINSTN_DATA=../shared/data``
    works both from the repository root and from its sub-folders.

    Raises:
        FileNotFoundError: ``MINSTN_DATA`` is set but names no existing folder.
    """
    value = os.environ.get("MINSTN_DATA", "").strip()
    if not value:
        return None
    p = Path(value).expanduser()
    candidates = [p] if p.is_absolute() else [Path.cwd() / p, _PROJECT_ROOT / p]
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"MINSTN_DATA={value!r} is not an existing folder (looked at: {tried}). "
        "Set MINSTN_DATA to the folder that contains mnist/ and physionet2012/, "
        "or unset it to use the download cache.")


def cache_dir() -> Path:
    """Return the download/preprocessing cache folder: ``$MINSTN_CACHE`` or ``~/.cache/minstn``.

    The folder is not created here; writers create the sub-folders they need.
    """
    value = os.environ.get("MINSTN_CACHE", "").strip()
    return Path(value).expanduser().resolve() if value else Path.home() / ".cache" / "minstn"


def file_digest(path: os.PathLike | str, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _help_line() -> str:
    return (f"set MINSTN_DATA=<folder containing mnist/ and physionet2012/> "
            f"or download the files into {cache_dir()}")


def fetch(name: str, urls: Iterable[str], dest: os.PathLike | str,
          check: Optional[Callable[[Path], None]] = None, *,
          opener: Optional[Callable] = None, progress: Optional[bool] = None) -> Path:
    """Download ``name`` from the first working URL in ``urls`` into ``dest``.

    Each URL is streamed into a temporary file in ``dest``'s folder (with a tqdm
    progress bar), ``check(tmp_path)`` is run on it (it must raise on a bad file),
    and the temporary file is then moved onto ``dest`` with ``os.replace``, so a
    half-written or corrupted download never appears under the final name.

    Args:
        name: human-readable name for messages and the progress bar.
        urls: full URLs, tried in order.
        dest: final path; its parent folder is created if needed.
        check: optional validator called with the temporary file's path.
        opener: replaces :data:`urlopen` (tests).
        progress: show a progress bar (None: only on a terminal).

    Returns:
        ``Path(dest)``.

    Raises:
        DataNotFoundError: every URL failed; the message lists each URL with its error.
    """
    from tqdm.auto import tqdm

    dest = Path(dest)
    urls = list(urls)
    open_url = opener if opener is not None else urlopen
    errors: list[str] = []
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataNotFoundError(
            f"cannot create the folder {dest.parent} to download {name} into ({e}); "
            + _help_line()) from e
    for url in urls:
        fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, open_url(url, timeout=_TIMEOUT_S) as resp:
                headers = getattr(resp, "headers", None)
                total = None
                if headers is not None:
                    length = headers.get("Content-Length")
                    total = int(length) if length and str(length).isdigit() else None
                with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                          desc=f"downloading {name}", disable=None if progress is None
                          else not progress, leave=False) as bar:
                    while True:
                        chunk = resp.read(_CHUNK)
                        if not chunk:
                            break
                        out.write(chunk)
                        bar.update(len(chunk))
            if check is not None:
                check(tmp)
            os.replace(tmp, dest)
            return dest
        except Exception as e:  # network errors, HTTP errors, failed checks: try the next mirror
            errors.append(f"  {url}: {type(e).__name__}: {e}")
        finally:
            if tmp.exists():
                try:
                    tmp.unlink()
                except OSError:
                    pass
    tried = "\n".join(errors) if errors else "  (no URLs given)"
    raise DataNotFoundError(
        f"could not download {name} to {dest}. Tried:\n{tried}\nTo fix: " + _help_line() + ".")


def find_file(subdir: str, filename: str, urls: Iterable[str] | None = None,
              check: Optional[Callable[[Path], None]] = None, *,
              opener: Optional[Callable] = None, download: bool = True) -> Path:
    """Locate ``<subdir>/<filename>``: ``$MINSTN_DATA``, then the cache, else download it.

    Args:
        subdir: data-set folder name, e.g. ``"mnist"``.
        filename: file name inside that folder.
        urls: base URLs (ending in ``/``) or full URLs (ending in ``filename``) of mirrors;
            a base URL gets ``filename`` appended.
        check: validator for downloaded files (see :func:`fetch`). Files found locally are
            not checked here; loaders validate what they read.
        opener: replaces :data:`urlopen` (tests).
        download: if False, raise instead of downloading.

    Returns:
        Path of an existing file.

    Raises:
        FileNotFoundError: ``MINSTN_DATA`` names a missing folder.
        DataNotFoundError: the file is not found locally and could not be downloaded.
    """
    root = data_root()
    note = ""
    if root is not None:
        p = root / subdir / filename
        if p.is_file():
            return p
        note = (f"{p} does not exist (MINSTN_DATA={os.environ.get('MINSTN_DATA')!r}), "
                "so the cache/download was tried next. ")
    cached = cache_dir() / subdir / filename
    if cached.is_file():
        return cached
    full_urls = [u + filename if u.endswith("/") else u for u in (urls or [])]
    if not download or not full_urls:
        raise DataNotFoundError(
            f"{note}{subdir}/{filename} was not found in the cache ({cached}) and downloading "
            "is disabled. To fix: " + _help_line() + ".")
    try:
        return fetch(f"{subdir}/{filename}", full_urls, cached, check, opener=opener)
    except DataNotFoundError as e:
        raise DataNotFoundError(note + str(e)) from e
