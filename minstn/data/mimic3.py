"""MIMIC-III in-hospital mortality in the layout of the mimic3-benchmarks
(Harutyunyan, Khachatrian, Kale, Ver Steeg & Galstyan, "Multitask learning and
benchmarking with clinical time series data", Scientific Data 2019; arXiv 2017).

MIMIC-III needs credentialed PhysioNet access, so nothing is downloaded here:
build the benchmark's ``in-hospital-mortality`` folder yourself and pass its path.

Expected layout::

    <root>/train/listfile.csv        header "stay,y_true", one row per episode
    <root>/train/<stay>              e.g. 10011_episode1_timeseries.csv
    <root>/test/listfile.csv
    <root>/test/<stay>

Each episode CSV has the header ``Hours`` + the 17 variables of :data:`CHANNELS`
(columns are matched by name); empty cells are unobserved.

Discretisation (same as the benchmark's discretizer with timestep 1 h, imputation
"previous", masks on):

- ``hours`` (48) bins; a row at time t (hours since ICU admission) goes into bin
  ``max(0, ceil(t) - 1)``, i.e. bin 0 holds [0, 1] and bin k holds (k, k+1];
  rows with t < 0 or t > hours are ignored.  Within a bin the last row wins.
- categorical variables (capillary refill rate and the four Glasgow coma scale
  items) are one-hot encoded over the benchmark's category lists
  (:data:`CATEGORIES`); the others are kept as numbers;
- each variable is forward-filled from its last observation; before the first
  observation it takes the benchmark's normal value (:data:`NORMAL_VALUES`);
- 17 masks (1 where the variable was observed in that bin) are appended.

Channel order of ``x`` (76 channels, :data:`CHANNEL_NAMES`): for each variable of
:data:`CHANNELS` in order, either one value channel (named like the variable) or one
channel per category (``"<variable>-><category>"``); then ``"mask-><variable>"`` for
the 17 variables.  Value channels are not scaled: use :class:`Standardizer` (fitted
on the training split) to z-score the 12 continuous channels, as the benchmark does.
"""
from __future__ import annotations

import csv
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

__all__ = ["load", "Mimic3Data", "Standardizer", "CHANNELS", "CATEGORIES", "NORMAL_VALUES",
           "CHANNEL_NAMES", "CONTINUOUS_CHANNELS"]

#: The 17 variables (CSV column names), in channel order.
CHANNELS = (
    "Capillary refill rate", "Diastolic blood pressure", "Fraction inspired oxygen",
    "Glascow coma scale eye opening", "Glascow coma scale motor response",
    "Glascow coma scale total", "Glascow coma scale verbal response", "Glucose", "Heart Rate",
    "Height", "Mean blood pressure", "Oxygen saturation", "Respiratory rate",
    "Systolic blood pressure", "Temperature", "Weight", "pH",
)

#: Category lists of the categorical variables, in one-hot order (as in the benchmark).
CATEGORIES = {
    "Capillary refill rate": ("0.0", "1.0"),
    "Glascow coma scale eye opening": (
        "To Pain", "3 To speech", "1 No Response", "4 Spontaneously", "None", "To Speech",
        "Spontaneously", "2 To pain"),
    "Glascow coma scale motor response": (
        "1 No Response", "3 Abnorm flexion", "Abnormal extension", "No response",
        "4 Flex-withdraws", "Localizes Pain", "Flex-withdraws", "Obeys Commands",
        "Abnormal Flexion", "6 Obeys Commands", "5 Localizes Pain", "2 Abnorm extensn"),
    "Glascow coma scale total": (
        "11", "10", "13", "12", "15", "14", "3", "5", "4", "7", "6", "9", "8"),
    "Glascow coma scale verbal response": (
        "1 No Response", "No Response", "Confused", "Inappropriate Words", "Oriented",
        "No Response-ETT", "5 Oriented", "Incomprehensible sounds", "1.0 ET/Trach",
        "4 Confused", "2 Incomp sounds", "3 Inapprop words"),
}

#: Values used before a variable's first observation (the benchmark's "normal values").
NORMAL_VALUES = {
    "Capillary refill rate": "0.0", "Diastolic blood pressure": "59.0",
    "Fraction inspired oxygen": "0.21", "Glascow coma scale eye opening": "4 Spontaneously",
    "Glascow coma scale motor response": "6 Obeys Commands", "Glascow coma scale total": "15",
    "Glascow coma scale verbal response": "5 Oriented", "Glucose": "128.0", "Heart Rate": "86",
    "Height": "170.0", "Mean blood pressure": "77.0", "Oxygen saturation": "98.0",
    "Respiratory rate": "19", "Systolic blood pressure": "118.0", "Temperature": "36.6",
    "Weight": "81.0", "pH": "7.4",
}


def _layout():
    names, begin = [], []
    for ch in CHANNELS:
        begin.append(len(names))
        if ch in CATEGORIES:
            names.extend(f"{ch}->{cat}" for cat in CATEGORIES[ch])
        else:
            names.append(ch)
    n_values = len(names)
    names.extend(f"mask->{ch}" for ch in CHANNELS)
    return tuple(names), tuple(begin), n_values


#: The 76 channel names of ``x``.
CHANNEL_NAMES, _BEGIN, _N_VALUES = _layout()
#: Indices (into the 76 channels) of the 12 continuous value channels.
CONTINUOUS_CHANNELS = tuple(_BEGIN[i] for i, ch in enumerate(CHANNELS) if ch not in CATEGORIES)
_EPS = 1e-6
_LISTFILE_HEADER = ["stay", "y_true"]


def _category_lookup() -> dict:
    """Per categorical variable: accepted string -> category index (numeric aliases too)."""
    out = {}
    for ch, cats in CATEGORIES.items():
        table = {c: i for i, c in enumerate(cats)}
        for i, c in enumerate(cats):   # "15.0" -> "15", "1" -> "1.0"
            try:
                f = float(c)
            except ValueError:
                continue
            table.setdefault(repr(f), i)
            if f == int(f):
                table.setdefault(str(int(f)), i)
        out[ch] = table
    return out


_CAT_INDEX = _category_lookup()


def _encode(ch: str, value: str):
    """Category index (categorical variable) or float (continuous); raise ValueError if bad."""
    if ch in _CAT_INDEX:
        table = _CAT_INDEX[ch]
        v = value.strip()
        if v in table:
            return table[v]
        try:
            f = float(v)
            key = repr(f)
            if key in table:
                return table[key]
            if f == int(f) and str(int(f)) in table:
                return table[str(int(f))]
        except (ValueError, OverflowError):
            pass
        raise ValueError(f"unknown category {value!r} for {ch!r} (expected one of "
                         f"{list(CATEGORIES[ch])})")
    f = float(value)
    if not math.isfinite(f):
        raise ValueError(f"non-finite value {value!r} for {ch!r}")
    return f


_NORMAL_CODES = [_encode(ch, NORMAL_VALUES[ch]) for ch in CHANNELS]


@dataclass
class Mimic3Data:
    """Discretised episodes (N of them, T hourly bins).

    Attributes:
        x: float32 (N, T, 76) model input, channel order :data:`CHANNEL_NAMES` (unscaled).
        y: int64 (N,) in-hospital death (1) or not (0), from ``listfile.csv``.
        ids: (N,) str, the ``stay`` file names in listfile order.
        n_malformed: malformed lines and cells skipped (only with ``skip_malformed=True``).
        skipped: what was left out, by kind (:data:`SKIP_KINDS`).
    """
    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray
    n_malformed: int = 0
    skipped: dict = field(default_factory=dict)

    channel_names = CHANNEL_NAMES
    variable_names = CHANNELS

    @property
    def mask(self) -> np.ndarray:
        """float32 (N, T, 17): 1 where a variable was observed in that bin."""
        return self.x[:, :, _N_VALUES:]

    @property
    def record_ids(self) -> np.ndarray:
        """Alias of ``ids`` (same name as :class:`minstn.data.physionet.PhysioNetData`)."""
        return self.ids

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Standardizer:
    """Z-scores the 12 continuous value channels with statistics of training episodes.

    As in the benchmark, the statistics cover all bins of the discretised (imputed) data.
    One-hot and mask channels are left unchanged.

    Attributes:
        mean, std: float64 (12,) for the channels :data:`CONTINUOUS_CHANNELS`.
    """
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> "Standardizer":
        """Fit on training inputs ``x`` (N, T, 76)."""
        x = np.asarray(x)
        if x.ndim != 3 or x.shape[-1] != len(CHANNEL_NAMES) or len(x) == 0:
            raise ValueError(f"Standardizer.fit: expected x of shape (N>0, T, "
                             f"{len(CHANNEL_NAMES)}), got {x.shape}")
        cont = x[:, :, list(CONTINUOUS_CHANNELS)].reshape(-1, len(CONTINUOUS_CHANNELS))
        mean = cont.mean(axis=0, dtype=np.float64)
        std = cont.std(axis=0, dtype=np.float64)
        std[~(std > 1e-8)] = 1.0
        return cls(mean, std)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Return a float32 copy of ``x`` (N, T, 76) with the continuous channels z-scored."""
        out = np.array(x, dtype=np.float32, copy=True)
        idx = list(CONTINUOUS_CHANNELS)
        out[:, :, idx] = ((out[:, :, idx] - self.mean) / self.std).astype(np.float32)
        return out


def _layout_error(msg: str) -> FileNotFoundError:
    return FileNotFoundError(
        msg + " Expected the mimic3-benchmarks in-hospital-mortality layout: "
        "<root>/{train,test}/listfile.csv (header 'stay,y_true') and one CSV per stay "
        "beside it. To fix: pass root=<that in-hospital-mortality folder>.")


# What skip_malformed=True skips, by kind. Lines and cells: the rest of the stay is kept.
LINE_SKIPS = ("fields", "hours", "cell")
# Records (stays): left out whole.
RECORD_SKIPS = ("listfile_line", "missing_file", "empty_record", "header", "duplicate_record")
DROPPED = ("past_window",)                 # rows outside [0, hours]: dropped, never an error
SKIP_KINDS = LINE_SKIPS + RECORD_SKIPS + DROPPED


def skip_summary(skipped: dict) -> str:
    """One line: what load(..., skip_malformed=True) skipped, by kind."""
    from .physionet import skip_summary as summary
    return summary(skipped, (LINE_SKIPS, RECORD_SKIPS, DROPPED))


class _BadRecord(ValueError):
    """A stay that cannot be used; `kind` is one of RECORD_SKIPS."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def _read_listfile(path: Path, skipped: dict, skip_malformed: bool) -> list[tuple[str, int]]:
    if not path.is_file():
        raise _layout_error(f"{path} not found.")
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != _LISTFILE_HEADER:
            raise ValueError(f"{path}, line 1: expected the header 'stay,y_true', got "
                             f"{','.join(header or [])!r}. To fix: use the in-hospital-mortality "
                             "listfile of mimic3-benchmarks.")
        rows = []
        for lineno, row in enumerate(reader, start=2):
            if not row or not "".join(row).strip():
                continue
            try:
                y = int(float(row[1]))
                if y not in (0, 1) or not row[0].strip():
                    raise ValueError
            except (ValueError, IndexError):
                if skip_malformed:
                    skipped["listfile_line"] += 1
                    continue
                raise ValueError(f"{path}, line {lineno}: expected '<stay file>,<0 or 1>', got "
                                 f"{','.join(row)!r}. To fix: repair that line, or "
                                 "skip_malformed=True to leave that stay out.") from None
            rows.append((row[0].strip(), y))
    return rows


def _discretize(path: Path, hours: int, skip_malformed: bool) -> tuple[np.ndarray, dict]:
    """One episode CSV -> (float32 (hours, 76), {kind: count} of skipped lines and cells).
    Raises _BadRecord for a file that cannot be used at all."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise _BadRecord("empty_record", f"{path}: empty file; expected a header "
                             "'Hours,<17 variables>'. To fix: regenerate the episode file.")
        header = [h.strip() for h in header]
        missing = [c for c in ("Hours",) + CHANNELS if c not in header]
        unknown = [c for c in header if c != "Hours" and c not in CHANNELS]
        if missing or unknown or len(set(header)) != len(header):
            raise _BadRecord("header", f"{path}, line 1: header does not match the benchmark's "
                             f"columns: missing {missing}, unknown {unknown}. Expected 'Hours' + "
                             f"{list(CHANNELS)}. To fix: regenerate the episode file.")
        t_col = header.index("Hours")
        cols = [(header.index(ch), c) for c, ch in enumerate(CHANNELS)]
        # last observed code per (bin, variable)
        observed: list[dict] = [dict() for _ in range(hours)]
        n_bad = dict.fromkeys(LINE_SKIPS + DROPPED, 0)
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                if skip_malformed:
                    n_bad["fields"] += 1
                    continue
                raise ValueError(f"{path}, line {lineno}: expected {len(header)} fields, got "
                                 f"{len(row)}. To fix: repair that line or pass "
                                 "skip_malformed=True.")
            try:
                t = float(row[t_col])
                if not math.isfinite(t):
                    raise ValueError
            except ValueError:
                if skip_malformed:
                    n_bad["hours"] += 1
                    continue
                raise ValueError(f"{path}, line {lineno}: bad Hours value {row[t_col]!r}. To fix: "
                                 "repair that line or pass skip_malformed=True.") from None
            if t < -_EPS or t > hours + _EPS:
                n_bad["past_window"] += 1
                continue
            b = min(max(int(math.ceil(t - _EPS)) - 1, 0), hours - 1)
            slot = observed[b]
            for k, c in cols:
                cell = row[k]
                if cell == "" or cell.isspace():
                    continue
                try:
                    slot[c] = _encode(CHANNELS[c], cell)
                except ValueError as e:
                    if skip_malformed:
                        n_bad["cell"] += 1
                        continue
                    raise ValueError(f"{path}, line {lineno}, column {CHANNELS[c]!r}: {e}. To fix: "
                                     "repair that cell or pass skip_malformed=True.") from None
    out = np.zeros((hours, len(CHANNEL_NAMES)), np.float32)
    current = list(_NORMAL_CODES)
    for b in range(hours):
        for c, code in observed[b].items():
            current[c] = code
            out[b, _N_VALUES + c] = 1.0
        for c, ch in enumerate(CHANNELS):
            if ch in CATEGORIES:
                out[b, _BEGIN[c] + current[c]] = 1.0
            else:
                out[b, _BEGIN[c]] = current[c]
    return out, n_bad


def load(root, split: str = "train", *, hours: int = 48, skip_malformed: bool = False,
         progress: Optional[bool] = None) -> Mimic3Data:
    """Load and discretise one split of a mimic3-benchmarks in-hospital-mortality folder.

    Args:
        root: the ``in-hospital-mortality`` folder (holding ``train/`` and ``test/``).
        split: ``"train"`` or ``"test"``.
        hours: number of hourly bins T.
        skip_malformed: skip malformed listfile lines, episode lines and cells, and stays whose
            file is missing, empty, has a wrong header or is listed twice, counting them by
            kind in ``skipped``, instead of raising at the first (file and line named).
        progress: tqdm bar (None: only on a terminal).

    Returns:
        :class:`Mimic3Data` with x float32 (N, hours, 76), y int64 (N,), ids (N,).

    Raises:
        FileNotFoundError: wrong folder layout or a listed episode file is missing.
        ValueError: bad arguments, or malformed content (file, line and column named).
    """
    from tqdm.auto import tqdm

    if split not in ("train", "test"):
        raise ValueError(f"mimic3.load: split must be 'train' or 'test', got {split!r}")
    if int(hours) != hours or hours < 1:
        raise ValueError(f"mimic3.load: hours must be a positive integer, got {hours!r}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise _layout_error(f"mimic3.load: root {root} is not a folder.")
    folder = root / split
    if not folder.is_dir():
        raise _layout_error(f"mimic3.load: {folder} is not a folder.")
    skipped = dict.fromkeys(SKIP_KINDS, 0)
    rows = _read_listfile(folder / "listfile.csv", skipped, skip_malformed)
    xs, kept, seen = [], [], set()
    for stay, y in tqdm(rows, desc=f"mimic3 {split}", unit="stay", leave=False,
                        disable=None if progress is None else not progress,
                        mininterval=2 if sys.stderr.isatty() else 30):
        p = folder / stay
        try:
            if stay in seen:
                raise _BadRecord("duplicate_record", f"{folder / 'listfile.csv'}: stay {stay} "
                                 "is listed twice. To fix: remove one line, or "
                                 "skip_malformed=True to keep the first.")
            if not p.is_file():
                if not skip_malformed:
                    raise _layout_error(f"mimic3.load: episode file {p} (listed in "
                                        f"{folder / 'listfile.csv'}) not found.")
                raise _BadRecord("missing_file", str(p))
            x, bad = _discretize(p, int(hours), skip_malformed)
        except _BadRecord as e:
            if not skip_malformed:
                raise
            skipped[e.kind] += 1
            continue
        seen.add(stay)
        for k, c in bad.items():
            skipped[k] += c
        xs.append(x)
        kept.append((stay, y))
    x = np.stack(xs) if xs else np.zeros((0, int(hours), len(CHANNEL_NAMES)), np.float32)
    return Mimic3Data(x=x, y=np.array([y for _, y in kept], np.int64),
                      ids=np.array([s for s, _ in kept], dtype=str),
                      n_malformed=sum(skipped[k] for k in LINE_SKIPS), skipped=skipped)
