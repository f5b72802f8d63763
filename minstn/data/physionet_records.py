"""Reading PhysioNet 2012 record files: the variables, their valid ranges, and the parser.

A record file is `Time,Parameter,Value` lines (`hh:mm,HR,80`); a set is a folder or a
.tar.gz of them plus an outcomes file. `_parse_set` turns a set into flat arrays, which
`physionet.load` bins, normalises and caches. What it does with lines and records it
cannot read — raise at the first (strict), or skip and count by kind — is set by
`skip_malformed`; the kinds are listed in `SKIP_KINDS` (docs/data.md has the table).
"""
from __future__ import annotations

import sys
import tarfile
from array import array
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

#: The 37 time-varying variables, in channel order.
VARIABLES = (
    "Albumin", "ALP", "ALT", "AST", "Bilirubin", "BUN", "Cholesterol", "Creatinine",
    "DiasABP", "FiO2", "GCS", "Glucose", "HCO3", "HCT", "HR", "K", "Lactate", "Mg", "MAP",
    "MechVent", "Na", "NIDiasABP", "NIMAP", "NISysABP", "PaCO2", "PaO2", "pH", "Platelets",
    "RespRate", "SaO2", "SysABP", "Temp", "TroponinI", "TroponinT", "Urine", "WBC", "Weight",
)
_VAR_INDEX = {name: i for i, name in enumerate(VARIABLES)}

_INF = float("inf")
#: Valid ranges ``name: (low, high, low_exclusive)``; values outside are set to missing.
#: ``high`` is inclusive.  Descriptors: Age, Gender, Height, Weight_initial, ICUType.
VALID_RANGES = {
    # labs: concentrations cannot be negative
    "Albumin": (0.0, 10.0, False), "ALP": (0.0, _INF, False), "ALT": (0.0, _INF, False),
    "AST": (0.0, _INF, False), "Bilirubin": (0.0, 100.0, False), "BUN": (0.0, _INF, False),
    "Cholesterol": (0.0, _INF, True), "Creatinine": (0.0, _INF, True),
    "Glucose": (0.0, _INF, True), "HCO3": (0.0, _INF, True), "HCT": (0.0, 100.0, True),
    "K": (0.0, 15.0, True),            # K 22.9 occurs: impossible
    "Lactate": (0.0, _INF, True),
    "Mg": (0.0, 10.0, True),           # Mg 37.5 and 0 occur: impossible
    "Na": (0.0, _INF, True), "Platelets": (0.0, _INF, True),
    "TroponinI": (0.0, _INF, False), "TroponinT": (0.0, _INF, False),
    "WBC": (0.0, 200.0, False),        # WBC 12,500 occurs (cells/uL instead of 10^3/uL)
    # blood gases
    "FiO2": (0.21, 1.0, False), "PaCO2": (0.0, _INF, True), "PaO2": (0.0, _INF, True),
    "SaO2": (0.0, 100.0, True),
    "pH": (6.5, 8.0, False),           # pH 735 / 99 / 0 occur (735 is probably 7.35 x 100)
    # vital signs: 0 is a disconnected sensor, not a measurement
    "HR": (0.0, 300.0, True), "RespRate": (0.0, 100.0, True),
    "DiasABP": (0.0, 300.0, True), "SysABP": (0.0, 300.0, True), "MAP": (0.0, 300.0, True),
    "NIDiasABP": (0.0, 300.0, True), "NISysABP": (0.0, 300.0, True), "NIMAP": (0.0, 300.0, True),
    "Temp": (25.0, 45.0, False),       # Temp -17.8 and 0 occur
    "GCS": (3.0, 15.0, False), "MechVent": (0.0, 1.0, False),
    "Urine": (0.0, _INF, False),       # 0 urine output in an hour is valid
    "Weight": (0.0, 300.0, True),      # kg; -1 and 0 occur
    # descriptors
    "Age": (0.0, 120.0, False), "Gender": (0.0, 1.0, False),
    "Height": (100.0, 250.0, False),   # cm; 1.8 and 400+ occur
    "Weight_initial": (0.0, 300.0, True), "ICUType": (1.0, 4.0, False),
}
_LO = np.array([VALID_RANGES[v][0] for v in VARIABLES])
_HI = np.array([VALID_RANGES[v][1] for v in VARIABLES])
_LO_EXCL = np.array([VALID_RANGES[v][2] for v in VARIABLES])
_DESCRIPTORS = ("RecordID", "Age", "Gender", "Height", "ICUType")  # + Weight at 00:00
_HEADER = "Time,Parameter,Value"


def _iter_records(path: Path) -> Iterator[tuple[str, str, str]]:
    """Yield (label for messages, file stem, text) for every record of a set."""
    if path.is_dir():
        for p in sorted(path.glob("*.txt")):
            yield str(p), p.stem, p.read_text()
        return
    with tarfile.open(path, "r:gz") as tf:
        for m in tf:
            if not (m.isfile() and m.name.endswith(".txt")):
                continue
            f = tf.extractfile(m)
            yield f"{path}:{m.name}", Path(m.name).stem, f.read().decode("utf-8", "replace")


def _read_outcomes(path: Path) -> dict:
    lines = path.read_text().splitlines()
    if not lines:
        raise ValueError(f"{path}: empty outcome file; expected a header with RecordID and "
                         "In-hospital_death. To fix: re-download it.")
    header = [h.strip() for h in lines[0].split(",")]
    try:
        i_id, i_y = header.index("RecordID"), header.index("In-hospital_death")
    except ValueError:
        raise ValueError(f"{path}, line 1: header {lines[0]!r} lacks RecordID and/or "
                         "In-hospital_death. To fix: re-download the outcome file.") from None
    out = {}
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split(",")
        try:
            out[int(parts[i_id])] = int(parts[i_y])
        except (ValueError, IndexError):
            raise ValueError(f"{path}, line {lineno}: cannot read RecordID/In-hospital_death "
                             f"from {line!r}. To fix: re-download the outcome file.") from None
    return out


# ---------------------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------------------
def _parse_time(t: str) -> Optional[int]:
    """Minutes since ICU admission for 'hh:mm' (hh >= 0, 0 <= mm < 60), else None."""
    hh, sep, mm = t.partition(":")
    if not (sep and hh.isdigit() and mm.isdigit() and len(mm) == 2 and hh.isascii()
            and mm.isascii()):
        return None
    m = int(mm)
    return int(hh) * 60 + m if m < 60 else None


def _malformed(label: str, lineno: int, line: str, reason: str) -> ValueError:
    return ValueError(
        f"{label}, line {lineno}: {reason}: {line!r}. Expected 'hh:mm,<Parameter>,<number>' "
        f"with a known parameter name. To fix: repair or remove that line, or call "
        f"load(..., skip_malformed=True) to skip (and count) such lines.")


# What skip_malformed=True skips, by kind. Lines: the rest of the record is kept.
LINE_SKIPS = ("fields", "time", "value", "parameter")
# Records: the whole stay is left out.
RECORD_SKIPS = ("empty_record", "header", "record_id", "no_outcome", "duplicate_record")
# Not errors, counted always: rows after the window, outcomes whose record is absent.
DROPPED = ("past_window", "outcome_without_record")
SKIP_KINDS = LINE_SKIPS + RECORD_SKIPS + DROPPED


def _record_problem(label, stem, desc, outcome, seen, outcomes_path):
    """(kind, message) of why a parsed record cannot be used, or None; and its RecordID."""
    rid = desc.get("RecordID")
    stem_id = int(stem) if stem.isdigit() else None
    if rid is None:
        if stem_id is None:
            return ("record_id", f"{label}: no 00:00 RecordID row and the file name is not a "
                    "RecordID. To fix: add the RecordID row or rename the file."), None
        rid = stem_id
    elif stem_id is not None and int(rid) != stem_id:
        return ("record_id", f"{label}: RecordID row says {int(rid)} but the file name says "
                f"{stem_id}. To fix: make them agree."), None
    rid = int(rid)
    if rid not in outcome:
        return ("no_outcome", f"{label} and {outcomes_path} do not match: record {rid} has no "
                "outcome. To fix: re-download both files, or skip_malformed=True to leave the "
                "stay out."), rid
    if rid in seen:
        return ("duplicate_record", f"{label}: RecordID {rid} appears twice in the set (also "
                f"{seen[rid]}). To fix: remove one copy, or skip_malformed=True to keep the "
                "first."), rid
    return None, rid


def _parse_set(s: str, records: Path, outcomes: Path, hours: int, skip_malformed: bool,
               progress: Optional[bool]) -> dict:
    from tqdm.auto import tqdm

    outcome = _read_outcomes(outcomes)
    limit = hours * 60
    var_index = _VAR_INDEX
    desc_names = _DESCRIPTORS
    counts, rows = array("q"), array("d")      # rows: flat (parameter, minutes, value) triples
    time_cache: dict = {}
    weight_j = var_index["Weight"]
    ids, statics, icus = [], [], []
    seen: dict = {}                            # RecordID -> label of its first record
    skipped = dict.fromkeys(SKIP_KINDS, 0)
    removed = dict.fromkeys(list(VARIABLES) + ["Age", "Gender", "Height", "Weight_initial",
                                               "ICUType"], 0)
    bar = tqdm(_iter_records(records), total=len(outcome), desc=f"parsing set-{s}",
               unit="rec", disable=None if progress is None else not progress, leave=False,
               mininterval=2 if sys.stderr.isatty() else 30)

    def bad_line(kind, label, lineno, line, reason):
        if not skip_malformed:
            raise _malformed(label, lineno, line, reason)
        in_record[kind] += 1

    for label, stem, text in bar:
        lines = text.splitlines()
        if not lines or lines[0].strip() != _HEADER:
            if skip_malformed:
                skipped["empty_record" if not text.strip() else "header"] += 1
                continue
            raise ValueError(
                f"{label}, line 1: expected the header {_HEADER!r}, got "
                f"{(lines[0] if lines else '')!r}. To fix: check that this is a PhysioNet 2012 "
                "record file (re-download the set if it is corrupted), or load(..., "
                "skip_malformed=True) to leave it out.")
        desc = {}
        n0 = len(rows)
        in_record = dict.fromkeys(LINE_SKIPS + ("past_window",), 0)   # kept if the stay is
        for lineno, line in enumerate(lines[1:], start=2):
            parts = line.split(",")
            if len(parts) != 3:
                if line.strip():
                    bad_line("fields", label, lineno, line,
                             f"expected 3 comma-separated fields, got {len(parts)}")
                continue
            t, p, v = parts
            minutes = time_cache.get(t)
            if minutes is None:
                minutes = _parse_time(t)
                if minutes is None:
                    bad_line("time", label, lineno, line, f"bad time {t!r}")
                    continue
                time_cache[t] = minutes
            try:
                val = float(v)
                if val - val != 0.0:             # nan or +-inf
                    raise ValueError
            except ValueError:
                bad_line("value", label, lineno, line, f"non-numeric value {v!r}")
                continue
            j = var_index.get(p)
            if j is None:
                if p in desc_names:
                    desc.setdefault(p, val)
                else:
                    bad_line("parameter", label, lineno, line, f"unknown parameter {p!r}")
                continue
            if minutes == 0 and j == weight_j and "Weight" not in desc:
                desc["Weight"] = val
                continue
            if minutes > limit:
                in_record["past_window"] += 1
                continue
            rows.extend((j, minutes, val))
        problem, rid = _record_problem(label, stem, desc, outcome, seen, outcomes)
        if problem is not None:
            kind, message = problem
            if not skip_malformed:
                raise ValueError(message)
            skipped[kind] += 1
            del rows[n0:]
            continue
        seen[rid] = label
        for k, c in in_record.items():
            skipped[k] += c
        counts.append((len(rows) - n0) // 3)
        ids.append(rid)
        st = []
        for name, key in (("Age", "Age"), ("Gender", "Gender"), ("Height", "Height"),
                          ("Weight_initial", "Weight")):
            x = desc.get(key, -1.0)
            if x == -1.0:
                st.append(np.nan)
                continue
            lo, hi, excl = VALID_RANGES[name]
            if x < lo or x > hi or (excl and x == lo):
                removed[name] += 1
                st.append(np.nan)
            else:
                st.append(x)
        statics.append(st)
        icu = desc.get("ICUType", -1.0)
        if icu != -1.0 and icu not in (1.0, 2.0, 3.0, 4.0):
            removed["ICUType"] += 1
        icus.append(int(icu) if icu in (1.0, 2.0, 3.0, 4.0) else 0)
    bar.close()

    extra = sorted(set(outcome) - set(seen))
    skipped["outcome_without_record"] = len(extra)
    if extra and not skip_malformed:
        raise ValueError(
            f"{records} and {outcomes} do not match: {len(extra)} outcomes without a record "
            f"(e.g. {extra[:3]}). To fix: re-download both files of set {s}, or "
            "skip_malformed=True to ignore them.")
    if not ids:
        raise ValueError(f"{records}: no usable record (skipped: "
                         f"{ {k: c for k, c in skipped.items() if c} }).")
    n = len(ids)
    ids_arr = np.array(ids, np.int64)
    order = np.argsort(ids_arr, kind="stable")
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)

    triples = np.array(rows, np.float64).reshape(-1, 3)
    par_a = triples[:, 0].astype(np.int64)
    mins_a = triples[:, 1].astype(np.int64)
    vals_a = triples[:, 2]
    rec_a = rank[np.repeat(np.arange(n), np.array(counts, np.int64))]
    # impossible values -> removed
    bad = (vals_a < _LO[par_a]) | (vals_a > _HI[par_a]) | (_LO_EXCL[par_a] & (vals_a == _LO[par_a]))
    for j, c in enumerate(np.bincount(par_a[bad], minlength=len(VARIABLES))):
        removed[VARIABLES[j]] += int(c)
    keep = ~bad
    par_a, mins_a, vals_a, rec_a = par_a[keep], mins_a[keep], vals_a[keep], rec_a[keep]
    # hourly bins; 48:00 (== limit) goes into the last bin
    bins = np.minimum(mins_a // 60, hours - 1)
    key = (rec_a * hours + bins) * len(VARIABLES) + par_a
    srt = np.lexsort((np.arange(len(key)), mins_a, key))     # by key, then time, then file order
    key_s = key[srt]
    last = np.ones(len(key_s), bool)
    last[:-1] = key_s[1:] != key_s[:-1]
    values = np.full(n * hours * len(VARIABLES), np.nan, np.float32)
    values[key_s[last]] = vals_a[srt][last]
    return {
        "values": values.reshape(n, hours, len(VARIABLES)),
        "static": np.array(statics, np.float32).reshape(n, 4)[order],
        "icu_type": np.array(icus, np.int64)[order],
        "record_ids": ids_arr[order],
        "y": np.array([outcome[i] for i in ids_arr[order]], np.int64),
        "removed_names": np.array(list(removed)),
        "removed_counts": np.array(list(removed.values()), np.int64),
        "skipped_names": np.array(list(skipped)),
        "skipped_counts": np.array(list(skipped.values()), np.int64),
    }


def skip_summary(skipped: dict, kinds=(LINE_SKIPS, RECORD_SKIPS, DROPPED)) -> str:
    """One line: what was skipped, by kind ("skipped nothing" if nothing). kinds: the
    loader's (line kinds, record kinds, dropped kinds)."""
    lines, recs, dropped = ({k: skipped[k] for k in group if skipped.get(k)} for group in kinds)
    parts = [f"{sum(lines.values())} malformed lines {lines}" if lines else "",
             f"{sum(recs.values())} records {recs}" if recs else ""]
    text = "skipped " + (", ".join(p for p in parts if p) or "nothing")
    return text + (f"; dropped {dropped}" if dropped else "")
