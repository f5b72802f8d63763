"""PhysioNet/Computing in Cardiology Challenge 2012: in-hospital mortality of ICU patients.

Silva I, Moody G, Scott DJ, Celi LA, Mark RG. Predicting In-Hospital Mortality of ICU
Patients: The PhysioNet/Computing in Cardiology Challenge 2012. Comput Cardiol 2012.

Typical use (train on set a, test on set b)::

    from minstn.data import physionet as pn
    a = pn.load(("a",))                                  # parse (cached as .npz)
    tr, va = pn.train_val_split(len(a), frac=0.2, seed=0)
    norm = pn.fit_normalizer(a, tr)                      # statistics of the TRAIN stays only
    x_tr, y_tr = norm.transform(a, tr), a.y[tr]          # float32 (n, 48, 84), int64 (n,)
    x_va, y_va = norm.transform(a, va), a.y[va]
    b = pn.load(("b",), normalizer=norm)                 # b.x uses the training statistics
    x_te, y_te = b.x, b.y

``load(...).x`` without ``normalizer=`` is standardised with statistics of the loaded
stays themselves: handy for exploring, but fit on the training split for experiments.

Files
-----
From ``$MINSTN_DATA/physionet2012/`` (else the cache ``<cache>/physionet2012/``, else
downloaded from https://physionet.org/files/challenge-2012/1.0.0/): for each set
``X`` in a, b, c either ``set-X.tar.gz`` (members ``set-X/<RecordID>.txt``) or an
extracted folder ``set-X/``, plus ``Outcomes-X.txt``.  When a ``SHA256SUMS`` (or
``SHA256SUMS.txt``) file lies beside them, files listed in it are checked against it.

Record format: ``Time,Parameter,Value`` header, then rows ``hh:mm,<Parameter>,<Value>``.
The general descriptors (RecordID, Age, Gender, Height, ICUType, Weight) are rows at
``00:00``; they are found by name (they are not always the first rows).  -1 marks a
missing descriptor.  The first ``00:00`` Weight row is the *initial weight*
descriptor; any further Weight rows (including repeated ones at 00:00) form the
Weight time series.

Preprocessing (in this order)
-----------------------------
1. Impossible values (outside :data:`VALID_RANGES`) are set to missing; counts per
   variable are in ``data.removed`` (and printed with ``verbose=True``).
2. Rows are put into ``hours`` hourly bins by ``floor(minutes / 60)``; a row at exactly
   ``hours:00`` (e.g. 48:00) goes into the last bin; later rows are dropped.
3. Within a bin the value with the latest time wins (for repeated ``(time, parameter)``
   rows, the one later in the file).
4. ``mask`` is 1 where a variable has an observed (valid) value in a bin.
5. :class:`Standardizer` (fitted on training stays) z-scores each variable using
   observed bins only, then forward-fills over time; bins before the first observation,
   and never-observed variables, get the training mean (0 after z-scoring).
   ``MechVent`` (only ever 1 in the data) is not z-scored: unobserved means 0.
   Static Age/Gender/Height/Weight are z-scored with missing -> 0.

Channel order of ``x`` (84 channels, :data:`CHANNEL_NAMES`)
------------------------------------------------------------
- 0..36: the 37 variables of :data:`VARIABLES` (z-scored, forward-filled values);
- 37..73: their observation masks, same order, named ``mask_<variable>``;
- 74..83: static channels repeated at every time step: ``Age, Gender, Height,
  Height_missing, Weight_initial, Weight_initial_missing, ICUType_1 (coronary care),
  ICUType_2 (cardiac surgery recovery), ICUType_3 (medical), ICUType_4 (surgical)``.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tarfile
import tempfile
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from . import _download
from .physionet_records import (DROPPED, LINE_SKIPS, RECORD_SKIPS, SKIP_KINDS, VALID_RANGES,
                                VARIABLES, _VAR_INDEX, _parse_set, skip_summary)

__all__ = ["load", "PhysioNetData", "Standardizer", "fit_normalizer", "train_val_split",
           "VARIABLES", "STATIC_NAMES", "CHANNEL_NAMES", "VALID_RANGES", "BASE_URL",
           "SKIP_KINDS", "LINE_SKIPS", "RECORD_SKIPS", "DROPPED", "skip_summary"]

BASE_URL = "https://physionet.org/files/challenge-2012/1.0.0/"
SUBDIR = "physionet2012"
_CACHE_VERSION = 2

_MECHVENT = _VAR_INDEX["MechVent"]
#: Raw static descriptors kept in ``data.static`` (N, 4), NaN = missing.
STATIC_RAW = ("Age", "Gender", "Height", "Weight_initial")
#: The 10 static channels of ``x``.
STATIC_NAMES = ("Age", "Gender", "Height", "Height_missing", "Weight_initial",
                "Weight_initial_missing", "ICUType_1", "ICUType_2", "ICUType_3", "ICUType_4")
#: All 84 channel names of ``x``.
CHANNEL_NAMES = tuple(VARIABLES) + tuple(f"mask_{v}" for v in VARIABLES) + STATIC_NAMES



# ---------------------------------------------------------------------------------------
# result type and normalisation
# ---------------------------------------------------------------------------------------
@dataclass
class PhysioNetData:
    """Parsed PhysioNet 2012 stays (N of them, T hourly bins, 37 variables).

    Attributes:
        values: float32 (N, T, 37) raw values per bin (after removing impossible values),
            NaN where unobserved; channel order :data:`VARIABLES`.
        static: float32 (N, 4) raw Age, Gender, Height (cm), initial Weight (kg); NaN = missing.
        icu_type: int64 (N,) ICUType 1..4, 0 if missing.
        y: int64 (N,) in-hospital death (1) or survival (0).
        record_ids: int64 (N,) RecordIDs (sorted within each set).
        sets: (N,) str, the set ("a", "b", "c") each stay came from.
        removed: impossible values set to missing, per variable/descriptor name.
        n_malformed: malformed lines skipped (only with ``skip_malformed=True``).
        skipped: what was left out, by kind (:data:`SKIP_KINDS`): malformed lines and records
            (only with ``skip_malformed=True``), rows past the window and outcomes without a
            record (always).
        normalizer: the :class:`Standardizer` used to build ``x``.
        x: float32 (N, T, 84) model input (see module docstring for the channel order).
    """
    values: np.ndarray
    static: np.ndarray
    icu_type: np.ndarray
    y: np.ndarray
    record_ids: np.ndarray
    sets: np.ndarray
    removed: dict = field(default_factory=dict)
    n_malformed: int = 0
    skipped: dict = field(default_factory=dict)
    normalizer: Optional["Standardizer"] = None
    x: Optional[np.ndarray] = None

    channel_names = CHANNEL_NAMES
    variable_names = VARIABLES
    static_names = STATIC_NAMES

    @property
    def mask(self) -> np.ndarray:
        """float32 (N, T, 37): 1 where the variable was observed in that bin, else 0."""
        return (~np.isnan(self.values)).astype(np.float32)

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, indices) -> "PhysioNetData":
        """The stays at ``indices`` (int array or boolean mask), same normalizer."""
        idx = np.asarray(indices)
        return replace(self, values=self.values[idx], static=self.static[idx],
                       icu_type=self.icu_type[idx], y=self.y[idx],
                       record_ids=self.record_ids[idx], sets=self.sets[idx],
                       x=None if self.x is None else self.x[idx])


def _select(data: PhysioNetData, indices):
    if indices is None:
        return data.values, data.static, data.icu_type
    idx = np.asarray(indices)
    return data.values[idx], data.static[idx], data.icu_type[idx]


def _masked_mean_std(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-column mean, std and count of the non-NaN entries of a 2-D array (rows, cols)."""
    mean, std, count = (np.zeros(a.shape[1]) for _ in range(3))
    for j in range(a.shape[1]):
        col = a[:, j]
        obs = col[~np.isnan(col)].astype(np.float64)
        count[j] = len(obs)
        if len(obs):
            mean[j] = obs.mean()
            std[j] = obs.std()
    return mean, std, count


@dataclass
class Standardizer:
    """Z-scoring + imputation fitted on training stays (observed values only).

    Attributes:
        value_mean, value_std: float64 (37,) statistics of the observed bin values of each
            variable (MechVent is left unscaled: mean 0, std 1).
        static_mean, static_std: float64 (4,) for Age, Gender, Height, Weight_initial.

    A variable with no observations or zero spread gets mean 0 / std 1.
    """
    value_mean: np.ndarray
    value_std: np.ndarray
    static_mean: np.ndarray
    static_std: np.ndarray

    @classmethod
    def fit(cls, data: PhysioNetData, indices=None) -> "Standardizer":
        """Fit on ``data`` restricted to ``indices`` (the training stays)."""
        values, static, _ = _select(data, indices)
        if len(values) == 0:
            raise ValueError("Standardizer.fit: no stays to fit on (indices selected 0 stays)")
        vm, vs, vc = _masked_mean_std(values.reshape(-1, values.shape[-1]))
        sm, ss, sc = _masked_mean_std(static)
        for mean, std, count in ((vm, vs, vc), (sm, ss, sc)):
            bad = (count == 0) | ~(std > 1e-8)
            std[bad] = 1.0
            mean[count == 0] = 0.0
        vm[_MECHVENT], vs[_MECHVENT] = 0.0, 1.0
        return cls(vm, vs, sm, ss)

    def transform(self, data: PhysioNetData, indices=None) -> np.ndarray:
        """Build the model input for ``data`` (restricted to ``indices``).

        Returns:
            float32 (n, T, 84): z-scored forward-filled values (37), masks (37), static (10).
        """
        values, static, icu = _select(data, indices)
        n, t, c = values.shape
        out = np.empty((n, t, 2 * c + len(STATIC_NAMES)), np.float32)
        z = out[:, :, :c]
        np.subtract(values, self.value_mean.astype(np.float32), out=z)
        z /= self.value_std.astype(np.float32)
        obs = ~np.isnan(values)
        out[:, :, c:2 * c] = obs
        for k in range(1, t):                    # forward fill along time
            np.copyto(z[:, k], z[:, k - 1], where=~obs[:, k])
        z[np.isnan(z)] = 0.0                     # before the first observation / never observed
        s = ((static - self.static_mean) / self.static_std).astype(np.float32)
        st = np.zeros((n, len(STATIC_NAMES)), np.float32)
        st[:, 0] = s[:, 0]
        st[:, 1] = s[:, 1]
        st[:, 2] = s[:, 2]
        st[:, 3] = np.isnan(static[:, 2])
        st[:, 4] = s[:, 3]
        st[:, 5] = np.isnan(static[:, 3])
        for k in range(4):
            st[:, 6 + k] = icu == k + 1
        st[np.isnan(st)] = 0.0
        out[:, :, 2 * c:] = st[:, None, :]
        return out

    def state_dict(self) -> dict:
        """Plain-array state, e.g. for ``np.savez``."""
        return {"value_mean": self.value_mean, "value_std": self.value_std,
                "static_mean": self.static_mean, "static_std": self.static_std}

    @classmethod
    def from_state_dict(cls, state: dict) -> "Standardizer":
        return cls(*(np.asarray(state[k], np.float64) for k in
                     ("value_mean", "value_std", "static_mean", "static_std")))


def fit_normalizer(data: PhysioNetData, indices=None) -> Standardizer:
    """Fit a :class:`Standardizer` on the stays ``data[indices]`` (use the training indices)."""
    return Standardizer.fit(data, indices)


def train_val_split(n: int, frac: float = 0.2, seed: int = 0, *,
                    stratify: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
    """Random split of ``range(n)`` into (train_idx, val_idx), both sorted int64.

    Args:
        n: number of stays.
        frac: fraction for validation (``round(frac * n)`` stays).
        seed: seed of the permutation.
        stratify: optional (n,) labels; the split then keeps each label's proportion.
    """
    if not 0.0 <= frac <= 1.0:
        raise ValueError(f"train_val_split: frac must be in [0, 1], got {frac}")
    rng = np.random.default_rng(seed)
    if stratify is None:
        perm = rng.permutation(n)
        n_val = int(round(frac * n))
        val = perm[:n_val]
    else:
        labels = np.asarray(stratify)
        if len(labels) != n:
            raise ValueError(f"train_val_split: stratify has {len(labels)} labels, expected n={n}")
        val = []
        for lab in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == lab))
            val.append(members[:int(round(frac * len(members)))])
        val = np.concatenate(val) if val else np.zeros(0, np.int64)
    is_val = np.zeros(n, bool)
    is_val[val] = True
    return np.flatnonzero(~is_val).astype(np.int64), np.flatnonzero(is_val).astype(np.int64)


# ---------------------------------------------------------------------------------------
# locating and checking files
# ---------------------------------------------------------------------------------------
_digest_memo: dict = {}


def _sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _digest_memo:
        _digest_memo[key] = _download.file_digest(path, "sha256")
    return _digest_memo[key]


def _read_sums(folder: Path) -> dict:
    sums = {}
    for name in ("SHA256SUMS", "SHA256SUMS.txt"):
        p = folder / name
        if p.is_file():
            for line in p.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 2 and len(parts[0]) == 64:
                    sums.setdefault(Path(parts[-1].lstrip("*")).name, (parts[0].lower(), p))
    return sums


def _verify(path: Path, sums_folder: Optional[Path] = None) -> Optional[str]:
    """Check ``path`` against SHA256SUMS beside it (or in ``sums_folder``); return its digest."""
    sums = _read_sums(sums_folder or path.parent)
    if path.name not in sums:
        return None
    expected, sums_file = sums[path.name]
    actual = _sha256(path)
    if actual != expected:
        raise ValueError(
            f"{path}: SHA-256 is {actual}, but {sums_file} expects {expected} (corrupted or "
            "modified file). To fix: delete it so it is downloaded again (if in the cache), or "
            "point MINSTN_DATA at a folder whose physionet2012/ holds intact files.")
    return actual


def _roots() -> list[Path]:
    roots = []
    r = _download.data_root()
    if r is not None:
        roots.append(r / SUBDIR)
    roots.append(_download.cache_dir() / SUBDIR)
    return roots


def _check_tar(path: Path) -> None:
    with tarfile.open(path, "r:gz") as tf:
        if not any(m.name.endswith(".txt") for m in tf.getmembers()):
            raise ValueError(f"{path}: tar archive holds no .txt record files")


def _check_outcomes(path: Path) -> None:
    with open(path, "rb") as f:
        head = f.read(64)
    if not head.startswith(b"RecordID,"):
        raise ValueError(f"{path}: does not start with a 'RecordID,' header")


def _download_file(name: str, checker) -> Path:
    cache = _download.cache_dir() / SUBDIR

    def check(tmp: Path) -> None:
        checker(tmp)
        sums = _read_sums(cache)
        if name in sums and _download.file_digest(tmp, "sha256") != sums[name][0]:
            raise ValueError(f"SHA-256 of the download does not match {sums[name][1]}")

    if not (cache / name).is_file() and not _read_sums(cache):
        try:  # best effort: the checksums published beside the files
            _download.find_file(SUBDIR, "SHA256SUMS.txt", [BASE_URL])
        except Exception:
            pass
    return _download.find_file(SUBDIR, name, [BASE_URL], check)


def _find_records(s: str) -> Path:
    """Path of ``set-<s>.tar.gz`` or of an extracted ``set-<s>/`` folder."""
    for d in _roots():
        if (d / f"set-{s}.tar.gz").is_file():
            return d / f"set-{s}.tar.gz"
        if (d / f"set-{s}").is_dir():
            return d / f"set-{s}"
    return _download_file(f"set-{s}.tar.gz", _check_tar)


def _find_outcomes(s: str) -> Path:
    for d in _roots():
        if (d / f"Outcomes-{s}.txt").is_file():
            return d / f"Outcomes-{s}.txt"
    return _download_file(f"Outcomes-{s}.txt", _check_outcomes)


def _source_key(path: Path) -> str:
    if path.is_file():
        return _verify(path) or _sha256(path)
    h = hashlib.sha256()   # extracted folder: hash names and contents (mtimes are too coarse)
    for p in sorted(path.glob("*.txt")):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return "dir-" + h.hexdigest()


def _cache_path(s: str, records: Path, outcomes: Path, hours: int, skip_malformed: bool) -> Path:
    opts = {"version": _CACHE_VERSION, "set": s, "hours": hours, "skip": skip_malformed,
            "variables": VARIABLES, "ranges": {k: [str(x) for x in v] for k, v in
                                                VALID_RANGES.items()},
            "records": _source_key(records), "outcomes": _verify(outcomes) or _sha256(outcomes)}
    key = hashlib.sha256(json.dumps(opts, sort_keys=True).encode()).hexdigest()[:20]
    return _download.cache_dir() / SUBDIR / "parsed" / f"set-{s}-{key}.npz"


def _save_npz(path: Path, arrays: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as e:
        warnings.warn(f"could not write the preprocessing cache {path} ({e}); "
                      "set MINSTN_CACHE to a writable folder to avoid re-parsing", stacklevel=3)


def _load_set(s: str, hours: int, skip_malformed: bool, cache: bool,
              progress: Optional[bool]) -> dict:
    records, outcomes = _find_records(s), _find_outcomes(s)
    _verify(outcomes)
    if not cache:
        if records.is_file():
            _verify(records)
        return _parse_set(s, records, outcomes, hours, skip_malformed, progress)
    path = _cache_path(s, records, outcomes, hours, skip_malformed)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, KeyError):
            pass  # unreadable cache file: parse again and overwrite it
    arrays = _parse_set(s, records, outcomes, hours, skip_malformed, progress)
    _save_npz(path, arrays)
    return arrays


def load(sets: Sequence[str] | str = ("a",), *, hours: int = 48, skip_malformed: bool = False,
         cache: bool = True, normalizer: Optional[Standardizer] = None,
         verbose: bool = False, progress: Optional[bool] = None) -> PhysioNetData:
    """Load PhysioNet 2012 sets as hourly-binned tensors.

    Args:
        sets: set names among "a", "b", "c" (e.g. ``("a", "b")``); stays are concatenated in
            this order, sorted by RecordID within a set.
        hours: number of hourly bins T (rows after ``hours:00`` are dropped).
        skip_malformed: skip malformed lines (bad fields, time, value or parameter name) and
            records (empty, bad header, RecordID missing or disagreeing with the file name, no
            outcome, a RecordID seen before) instead of raising, and count them by kind in
            ``skipped`` (lines also in ``n_malformed``). Strict (False) raises at the first,
            naming the file and line.
        cache: reuse/write the parsed arrays as ``.npz`` in ``<cache>/physionet2012/parsed/``
            (keyed by the options and the source files' checksums).
        normalizer: statistics for ``x``; None fits them on the loaded stays themselves
            (for experiments pass a :class:`Standardizer` fitted on the training split).
        verbose: print counts of removed impossible values and skipped lines.
        progress: tqdm bar while parsing (None: only on a terminal).

    Returns:
        :class:`PhysioNetData` with ``x`` float32 (N, hours, 84), ``y`` int64 (N,), etc.

    Raises:
        ValueError: bad arguments, malformed lines (file and line named), checksum mismatch.
        minstn.data._download.DataNotFoundError: files missing and the download failed.
    """
    sets = tuple(sets)  # "a" -> ("a",), "ab" -> ("a", "b")
    if not sets or any(s not in ("a", "b", "c") for s in sets):
        raise ValueError(f"physionet.load: sets must be a non-empty sequence of 'a', 'b', 'c', "
                         f"got {sets!r}")
    if int(hours) != hours or hours < 1:
        raise ValueError(f"physionet.load: hours must be a positive integer, got {hours!r}")
    parts = [_load_set(s, int(hours), bool(skip_malformed), cache, progress) for s in sets]
    removed: dict = {}
    skipped = dict.fromkeys(SKIP_KINDS, 0)
    for p in parts:
        for k, c in zip(p["removed_names"], p["removed_counts"]):
            removed[str(k)] = removed.get(str(k), 0) + int(c)
        for k, c in zip(p["skipped_names"], p["skipped_counts"]):
            skipped[str(k)] += int(c)
    data = PhysioNetData(
        values=np.concatenate([p["values"] for p in parts]),
        static=np.concatenate([p["static"] for p in parts]),
        icu_type=np.concatenate([p["icu_type"] for p in parts]),
        y=np.concatenate([p["y"] for p in parts]),
        record_ids=np.concatenate([p["record_ids"] for p in parts]),
        sets=np.concatenate([np.full(len(p["y"]), s) for s, p in zip(sets, parts)]),
        removed=removed,
        n_malformed=sum(skipped[k] for k in LINE_SKIPS),
        skipped=skipped,
    )
    data.normalizer = normalizer if normalizer is not None else Standardizer.fit(data)
    data.x = data.normalizer.transform(data)
    if verbose:
        nz = {k: c for k, c in removed.items() if c}
        print(f"physionet sets {'+'.join(sets)}: {len(data)} stays, {int(data.y.sum())} deaths; "
              f"impossible values set to missing: {nz or 'none'}"
              + f"; {skip_summary(skipped)}", file=sys.stderr)
    return data
