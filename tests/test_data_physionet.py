"""Tests for minstn.data.physionet (PhysioNet/CinC 2012).

Real-data tests need MINSTN_DATA (CI: ../shared/data); the rest use tiny synthetic
records written to a temporary folder.
"""
import hashlib
import io
import os
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from minstn.data import _download
from minstn.data import physionet as pn

REPO = Path(__file__).resolve().parents[1]
V = {name: i for i, name in enumerate(pn.VARIABLES)}
C = len(pn.VARIABLES)
S = {name: 2 * C + i for i, name in enumerate(pn.STATIC_NAMES)}


def _env_data_root():
    value = os.environ.get("MINSTN_DATA")
    if not value:
        return None
    for base in (Path.cwd(), REPO):
        p = (base / value).resolve()
        if (p / "physionet2012").is_dir():
            return p
    return None


REAL = _env_data_root()


@pytest.fixture(scope="module")
def set_a(tmp_path_factory):
    if REAL is None:
        pytest.skip("real PhysioNet 2012 data not available: set MINSTN_DATA to the folder "
                    "holding physionet2012/ (CI: MINSTN_DATA=../shared/data)")
    cache = tmp_path_factory.mktemp("pncache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINSTN_DATA", str(REAL))
        mp.setenv("MINSTN_CACHE", str(cache))
        data = pn.load(("a",))
        again = pn.load(("a",))  # from the .npz cache
    return data, again, cache


# ------------------------------------------------------------------ real data
def test_real_set_a(set_a):
    data, again, cache = set_a
    assert len(data) == 4000 and data.x.shape == (4000, 48, 84) and data.x.dtype == np.float32
    assert data.y.dtype == np.int64 and int(data.y.sum()) == 554
    assert data.values.shape == (4000, 48, 37) and data.static.shape == (4000, 4)
    assert len(np.unique(data.record_ids)) == 4000 and np.all(np.diff(data.record_ids) > 0)
    masks = data.x[:, :, C:2 * C]
    assert set(np.unique(masks).tolist()) <= {0.0, 1.0}
    assert np.array_equal(masks, data.mask)
    assert 0.17 < masks.mean() < 0.23                       # ~20% of hourly bins observed
    assert np.isfinite(data.x).all()
    assert len(pn.CHANNEL_NAMES) == 84 and list(data.channel_names) == list(pn.CHANNEL_NAMES)
    # impossible values are gone from the raw values
    for name in ("Temp", "pH", "SysABP", "HR"):
        assert data.removed[name] > 0
    assert np.nanmin(data.values[:, :, V["Temp"]]) >= 25
    assert np.nanmax(data.values[:, :, V["pH"]]) <= 8.0
    assert np.nanmin(data.values[:, :, V["Urine"]]) == 0            # Urine 0 is valid
    assert 0.4 < np.isnan(data.static[:, 2]).mean() < 0.55          # Height missing ~48%
    assert np.all(np.isin(data.icu_type, [1, 2, 3, 4]))
    # cache round trip
    assert list((cache / "physionet2012" / "parsed").glob("set-a-*.npz"))
    assert np.array_equal(again.x, data.x) and np.array_equal(again.y, data.y)
    assert again.removed == data.removed


def test_real_normalizer_fitted_on_train_only(set_a):
    data = set_a[0]
    tr, va = pn.train_val_split(len(data), frac=0.2, seed=0)
    assert len(va) == 800 and len(tr) == 3200 and not set(tr) & set(va)
    norm = pn.fit_normalizer(data, tr)
    x_tr, x_va = norm.transform(data, tr), norm.transform(data, va)
    assert x_tr.shape == (3200, 48, 84) and x_va.shape == (800, 48, 84)
    obs = data.mask[tr].astype(bool)
    for j, name in enumerate(pn.VARIABLES):
        if name == "MechVent" or not obs[:, :, j].any():
            continue
        vals = x_tr[:, :, j][obs[:, :, j]]
        assert abs(vals.mean()) < 1e-3 and abs(vals.std() - 1) < 1e-3, name


# ------------------------------------------------------------------ synthetic records
HEADER = "Time,Parameter,Value"


def record(rid, rows, age=60, gender=1, height=-1, icu=3, weight=80.0, desc_first=True):
    """Build a record text; descriptors at 00:00 first, or shuffled among 00:00 rows."""
    desc = [f"00:00,RecordID,{rid}", f"00:00,Age,{age}", f"00:00,Gender,{gender}",
            f"00:00,Height,{height}", f"00:00,ICUType,{icu}", f"00:00,Weight,{weight}"]
    if desc_first:
        lines = desc + rows
    else:  # alphabetical at 00:00 like some real records: descriptors mixed with measurements
        zero = [r for r in rows if r.startswith("00:00,")]
        lines = sorted(desc + zero, key=lambda r: r.split(",")[1].lower())
        lines = [desc[0]] + [r for r in lines if r != desc[0]] + \
            [r for r in rows if not r.startswith("00:00,")]
    return "\n".join([HEADER] + lines) + "\n"


R1_ROWS = [
    "00:00,HR,75",             # shares 00:00 with the descriptors
    "00:00,Weight,81",         # repeated 00:00 Weight -> series, not the descriptor
    "00:10,HR,80",
    "00:50,HR,90",             # last in bin 0
    "01:30,HR,100",
    "01:30,HR,110",            # repeated (time, parameter): the later row wins
    "02:00,Temp,-17.8",        # impossible
    "02:00,HR,0",              # impossible
    "03:00,Temp,37",
    "03:10,pH,735",            # impossible
    "04:00,Urine,0",           # valid
    "05:00,MechVent,1",
    "48:00,HR,70",             # exactly 48:00 -> last bin
    "48:01,HR,1",              # beyond the window -> dropped
]


def write_set(folder, s, records, outcomes, tar=False):
    """records: {rid: text}; outcomes: {rid: death}. Writes set-<s>/ (or .tar.gz) + outcomes."""
    folder.mkdir(parents=True, exist_ok=True)
    if tar:
        with tarfile.open(folder / f"set-{s}.tar.gz", "w:gz") as tf:
            for rid in sorted(records):
                data = records[rid].encode()
                info = tarfile.TarInfo(f"set-{s}/{rid}.txt")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    else:
        d = folder / f"set-{s}"
        d.mkdir(exist_ok=True)
        for rid, text in records.items():
            (d / f"{rid}.txt").write_text(text)
    lines = ["RecordID,SAPS-I,SOFA,Length_of_stay,Survival,In-hospital_death"]
    lines += [f"{rid},10,5,7,-1,{death}" for rid, death in outcomes.items()]
    (folder / f"Outcomes-{s}.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture
def env(tmp_path, monkeypatch):
    root = tmp_path / "data"
    (root / "physionet2012").mkdir(parents=True)
    monkeypatch.setenv("MINSTN_DATA", str(root))
    monkeypatch.setenv("MINSTN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(_download, "urlopen", _no_network)
    return root / "physionet2012"


def _no_network(url, timeout=None):
    raise urllib.error.URLError("no network in tests")


def small_set(folder, s="a", tar=False):
    recs = {
        132001: record(132001, R1_ROWS, height=1.8, weight=80, icu=1, desc_first=False),
        132002: record(132002, ["00:30,HR,60", "10:00,HR,64", "10:00,Glucose,100"],
                       gender=0, height=170, weight=-1, icu=2),
        132003: record(132003, ["01:00,HR,70", "01:00,MechVent,1", "20:00,Glucose,200"],
                       height=180, weight=100, icu=4),
    }
    write_set(folder, s, recs, {132001: 1, 132002: 0, 132003: 0}, tar=tar)
    return recs


def test_synthetic_parsing(env):
    small_set(env)
    d = pn.load(("a",))
    assert d.record_ids.tolist() == [132001, 132002, 132003]
    assert d.y.tolist() == [1, 0, 0] and d.x.shape == (3, 48, 84)
    hr = d.values[0, :, V["HR"]]
    assert hr[0] == 90 and hr[1] == 110                  # last in bin; repeated row: later wins
    assert np.isnan(hr[2])                               # HR 0 removed
    assert hr[47] == 70                                  # 48:00 in the last bin, 48:01 dropped
    assert np.isnan(hr[3:47]).all()
    assert d.values[0, 0, V["Weight"]] == 81             # repeated 00:00 Weight is a series value
    assert np.isnan(d.values[0, 2, V["Temp"]]) and d.values[0, 3, V["Temp"]] == 37
    assert np.isnan(d.values[0, :, V["pH"]]).all()
    assert d.values[0, 4, V["Urine"]] == 0
    # descriptors parsed by name though they are not the first rows
    assert np.isnan(d.static[0, 2])                      # Height 1.8 cm removed
    assert d.static[0].tolist()[0:2] == [60, 1] and d.static[0, 3] == 80
    assert np.isnan(d.static[1, 3])                      # Weight -1 = missing
    assert d.icu_type.tolist() == [1, 2, 4]
    assert d.removed["Temp"] == 1 and d.removed["HR"] == 1 and d.removed["pH"] == 1
    assert d.removed["Height"] == 1 and d.removed["Urine"] == 0
    assert d.n_malformed == 0


def test_synthetic_features_forward_fill_and_static(env):
    small_set(env)
    d = pn.load(("a",))
    norm, x = d.normalizer, d.x
    z = lambda v, name: (v - norm.value_mean[V[name]]) / norm.value_std[V[name]]  # noqa: E731
    hr = x[0, :, V["HR"]]
    assert np.allclose(hr[0], z(90, "HR")) and np.allclose(hr[1:47], z(110, "HR"), atol=1e-5)
    assert np.allclose(hr[47], z(70, "HR"))
    assert np.array_equal(x[0, :, C + V["HR"]], ~np.isnan(d.values[0, :, V["HR"]]))
    # before the first observation and never observed: training mean = 0
    assert np.all(x[1, :10, V["Glucose"]] == 0) and np.all(x[0, :, V["Glucose"]] == 0)
    # MechVent is not scaled; unobserved -> 0
    mv = x[:, :, V["MechVent"]]
    assert np.all(mv[0, :5] == 0) and np.all(mv[0, 5:] == 1)
    assert np.all(mv[1] == 0) and np.all(mv[2, 1:] == 1)
    # static channels repeated over time
    assert np.all(x[:, :, 2 * C:] == x[:, :1, 2 * C:])
    assert x[0, 0, S["Height_missing"]] == 1 and x[1, 0, S["Height_missing"]] == 0
    assert x[1, 0, S["Weight_initial_missing"]] == 1 and x[1, 0, S["Weight_initial"]] == 0
    assert x[:, 0, S["ICUType_1"]:S["ICUType_4"] + 1].tolist() == [[1, 0, 0, 0], [0, 1, 0, 0],
                                                                  [0, 0, 0, 1]]


def test_npz_cache_is_reused_and_invalidated(env, tmp_path):
    small_set(env)
    pn.load(("a",))
    files = list((tmp_path / "cache" / "physionet2012" / "parsed").glob("*.npz"))
    assert len(files) == 1
    # a different option is a different cache entry
    pn.load(("a",), hours=24)
    assert len(list(files[0].parent.glob("*.npz"))) == 2
    # changing a source file changes the key
    p = env / "set-a" / "132002.txt"
    p.write_text(p.read_text().replace("10:00,HR,64", "10:00,HR,65"))
    d = pn.load(("a",))
    assert d.values[1, 10, V["HR"]] == 65
    assert not list(files[0].parent.glob("*.part"))


def test_hours_option(env):
    small_set(env)
    d = pn.load(("a",), hours=24, cache=False)
    assert d.x.shape == (3, 24, 84)
    assert np.nanmax(d.values[0, :, V["HR"]]) == 110        # the 48:00 row is outside 24 h


@pytest.mark.parametrize("bad_line, reason", [
    ("1x:00,HR,80", "bad time"),
    ("01:75,HR,80", "bad time"),
    ("01:00,HR,abc", "non-numeric value"),
    ("01:00,Foo,1", "unknown parameter"),
    ("01:00;HR;80", "3 comma-separated fields"),
])
def test_malformed_line_names_file_and_line(env, bad_line, reason):
    rows = ["00:30,HR,60", bad_line, "02:00,HR,64"]
    write_set(env, "a", {132005: record(132005, rows)}, {132005: 0})
    with pytest.raises(ValueError) as e:
        pn.load(("a",), cache=False)
    msg = str(e.value)
    assert "132005.txt" in msg and "line 9" in msg and reason in msg
    assert "skip_malformed=True" in msg


def test_skip_malformed_counts(env):
    rows = ["00:30,HR,60", "1x:00,HR,80", "01:00,HR,abc", "01:00,Foo,1", "02:00,HR,64"]
    write_set(env, "a", {132005: record(132005, rows)}, {132005: 0})
    d = pn.load(("a",), skip_malformed=True)
    assert d.n_malformed == 3
    hr = d.values[0, :, V["HR"]]
    assert hr[0] == 60 and hr[2] == 64 and np.isnan(hr[1])


def test_tarball_and_sha256sums(env):
    small_set(env, "b", tar=True)
    tar = env / "set-b.tar.gz"
    digest = hashlib.sha256(tar.read_bytes()).hexdigest()
    (env / "SHA256SUMS").write_text(f"{'0' * 64}  set-b.tar.gz\n")
    with pytest.raises(ValueError, match="SHA-256") as e:
        pn.load(("b",))
    assert "set-b.tar.gz" in str(e.value) and digest in str(e.value)
    (env / "SHA256SUMS").write_text(f"{digest}  set-b.tar.gz\n")
    d = pn.load(("b",))
    assert d.record_ids.tolist() == [132001, 132002, 132003] and d.sets.tolist() == ["b"] * 3


def test_two_sets_and_external_normalizer(env):
    small_set(env, "a")
    write_set(env, "b", {140001: record(140001, ["00:30,HR,100"])}, {140001: 1})
    a = pn.load(("a",))
    b = pn.load(("b",), normalizer=a.normalizer)
    assert b.normalizer is a.normalizer
    hr = b.x[0, :, V["HR"]]
    expected = (100 - a.normalizer.value_mean[V["HR"]]) / a.normalizer.value_std[V["HR"]]
    assert np.allclose(hr, expected)
    ab = pn.load(("a", "b"))
    assert ab.sets.tolist() == ["a", "a", "a", "b"] and ab.y.tolist() == [1, 0, 0, 1]
    sub = ab.subset([0, 3])
    assert sub.record_ids.tolist() == [132001, 140001] and sub.x.shape == (2, 48, 84)


def test_outcome_mismatch_is_an_error(env):
    write_set(env, "a", {132005: record(132005, ["00:30,HR,60"])}, {132006: 0})
    with pytest.raises(ValueError, match="do not match"):
        pn.load(("a",), cache=False)


def test_normalizer_uses_train_only_synthetic(env):
    rng = np.random.default_rng(0)
    recs, outs = {}, {}
    for k in range(20):
        rid = 150000 + k
        rows = [f"{h:02d}:{m:02d},HR,{rng.normal(80 + 40 * (k >= 15), 5):.1f}"
                for h in range(0, 48, 3) for m in (0, 30)]
        rows += [f"{h:02d}:00,Glucose,{rng.normal(120, 20):.0f}" for h in range(2, 48, 12)]
        recs[rid] = record(rid, rows, age=40 + k)
        outs[rid] = int(k % 4 == 0)
    write_set(env, "a", recs, outs)
    d = pn.load(("a",))
    tr, va = np.arange(15), np.arange(15, 20)       # validation stays have a higher HR
    norm = pn.fit_normalizer(d, tr)
    x_tr, x_va = norm.transform(d, tr), norm.transform(d, va)
    obs = d.mask[tr].astype(bool)
    for name in ("HR", "Glucose"):
        j = V[name]
        vals = x_tr[:, :, j][obs[:, :, j]]
        assert abs(vals.mean()) < 1e-4 and abs(vals.std() - 1) < 1e-3
    assert np.allclose(norm.value_mean[V["HR"]], np.nanmean(d.values[tr][:, :, V["HR"]]))
    assert x_va[:, :, V["HR"]][d.mask[va][:, :, V["HR"]] == 1].mean() > 3   # not re-centred
    assert abs(x_tr[:, 0, S["Age"]].mean()) < 1e-5
    state = norm.state_dict()
    assert np.array_equal(pn.Standardizer.from_state_dict(state).transform(d, va), x_va)


def test_train_val_split():
    tr, va = pn.train_val_split(100, frac=0.2, seed=1)
    assert len(tr) == 80 and len(va) == 20
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(100))
    tr2, va2 = pn.train_val_split(100, frac=0.2, seed=1)
    assert np.array_equal(va, va2) and not np.array_equal(va, pn.train_val_split(100, 0.2, 2)[1])
    y = np.array([1] * 10 + [0] * 90)
    tr, va = pn.train_val_split(100, frac=0.2, seed=0, stratify=y)
    assert y[va].sum() == 2 and len(va) == 20


def test_download_with_fake_opener(tmp_path, monkeypatch):
    monkeypatch.delenv("MINSTN_DATA", raising=False)
    monkeypatch.setenv("MINSTN_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "server"
    small_set(src, "a", tar=True)
    table = {pn.BASE_URL + name: (src / name).read_bytes()
             for name in ("set-a.tar.gz", "Outcomes-a.txt")}
    calls = []

    class Resp(io.BytesIO):
        headers = {}

    def opener(url, timeout=None):
        calls.append(url)
        if url not in table:
            raise urllib.error.URLError("not served")
        return Resp(table[url])

    monkeypatch.setattr(_download, "urlopen", opener)
    d = pn.load(("a",))
    assert len(d) == 3
    assert (tmp_path / "cache" / "physionet2012" / "set-a.tar.gz").is_file()
    assert pn.BASE_URL + "set-a.tar.gz" in calls


def test_no_data_no_network(tmp_path, monkeypatch):
    monkeypatch.delenv("MINSTN_DATA", raising=False)
    monkeypatch.setenv("MINSTN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(_download, "urlopen", _no_network)
    with pytest.raises(_download.DataNotFoundError, match="MINSTN_DATA"):
        pn.load(("a",))


def test_bad_arguments(env):
    with pytest.raises(ValueError, match="sets"):
        pn.load(("d",))
    with pytest.raises(ValueError, match="hours"):
        pn.load(("a",), hours=0)


# ---- real files meet bad records: skip and count by kind, or stop at the first -----------
def _messy_set(env):
    """One good stay and one of each problem the loader skips; returns the expected counts."""
    good = record(132001, ["00:30,HR,60", "10:00,HR,64", "1x:00,HR,80", "01:00,HR,abc",
                           "01:00,Foo,1", "01:00;HR;80", "49:00,HR,70"])
    # (lines of a stay that is left out are not counted: only the stay is)
    recs = {
        132001: good,
        132002: "",                                                   # empty file
        132003: "Time,Parameter\n00:00,RecordID,132003\n",           # wrong header
        132004: record(132009, ["00:30,HR,60"]),                      # RecordID ≠ file name
        132005: record(132005, ["00:30,HR,61"]),                      # no outcome
    }
    write_set(env, "a", recs, {132001: 1, 132002: 0, 132003: 0, 132004: 0, 132006: 1})
    (env / "set-a" / "x132001.txt").write_text(good)                  # the same stay twice
    return {"fields": 1, "time": 1, "value": 1, "parameter": 1, "empty_record": 1, "header": 1,
            "record_id": 1, "no_outcome": 1, "duplicate_record": 1, "past_window": 1,
            "outcome_without_record": 4}    # 132002-4 (their records skipped) and 132006


def test_skipping_counts_every_kind_and_the_counts_add_up(env):
    expected = _messy_set(env)
    d = pn.load(("a",), skip_malformed=True, cache=False)
    assert d.record_ids.tolist() == [132001]
    assert {k: c for k, c in d.skipped.items() if c} == expected
    assert set(d.skipped) == set(pn.SKIP_KINDS)
    assert d.n_malformed == sum(d.skipped[k] for k in pn.LINE_SKIPS) == 4
    files = len(list((env / "set-a").glob("*.txt")))
    assert files == len(d) + sum(d.skipped[k] for k in pn.RECORD_SKIPS)    # every file counted
    hr = d.values[0, :, V["HR"]]
    assert hr[0] == 60 and hr[10] == 64 and np.isnan(hr[1])
    summary = pn.skip_summary(d.skipped)
    assert summary.startswith("skipped 4 malformed lines") and "5 records" in summary


@pytest.mark.parametrize("kind, rec, outcomes, said", [
    ("empty_record", "", {132001: 0}, "expected the header"),
    ("record_id", record(132009, ["00:30,HR,60"]), {132001: 0}, "file name says 132001"),
    ("no_outcome", record(132001, ["00:30,HR,60"]), {132002: 0}, "has no outcome"),
])
def test_strict_stops_at_the_first_bad_record_naming_it(env, kind, rec, outcomes, said):
    write_set(env, "a", {132001: rec}, outcomes)
    with pytest.raises(ValueError, match=said) as e:
        pn.load(("a",), cache=False)
    assert "132001.txt" in str(e.value)


def test_strict_refuses_a_duplicated_stay_and_outcomes_without_records(env):
    write_set(env, "a", {132001: record(132001, ["00:30,HR,60"])}, {132001: 0, 132002: 1})
    with pytest.raises(ValueError, match="1 outcomes without a record"):
        pn.load(("a",), cache=False)
    write_set(env, "a", {132001: record(132001, ["00:30,HR,60"])}, {132001: 0})
    (env / "set-a" / "copy.txt").write_text(record(132001, ["00:30,HR,60"]))
    with pytest.raises(ValueError, match="appears twice"):
        pn.load(("a",), cache=False)


def test_rows_past_the_window_are_dropped_and_counted_in_both_modes(env):
    write_set(env, "a", {132001: record(132001, ["00:30,HR,60", "48:00,HR,1", "48:01,HR,2",
                                                 "72:00,HR,3"])}, {132001: 0})
    for skip in (False, True):
        d = pn.load(("a",), skip_malformed=skip, cache=False)
        assert d.skipped["past_window"] == 2 and d.values[0, 47, V["HR"]] == 1


# ---- fuzz: random mutations of real-looking lines ------------------------------------
def _mutate(line, rng):
    t, p, v = line.split(",")
    ops = [lambda: f"{t},{p}",                                        # a field dropped
           lambda: f"{p},{t},{v}",                                    # fields swapped
           lambda: f"{t},,{v}",                                       # empty name
           lambda: f"{t},{p},{rng.choice(['abc', '', 'nan', '1e400', '--1', '1,5'])}",
           lambda: f"{rng.choice(['99:99', '-1:00', '1:5', '', '٠١:٠٠', '00:00:00'])},{p},{v}",
           lambda: f"{t},{p}\x00\ufffd,{v}",                          # stray bytes
           lambda: line[:int(rng.integers(0, len(line)))],            # truncated
           lambda: f"{t},{p.lower()},{v}",                            # unknown name
           lambda: f"{t},{p},{v},{v}"]                                # an extra field
    return ops[int(rng.integers(len(ops)))]()


def test_fuzzed_records_never_crash_when_skipping_and_name_file_and_line_when_strict(env):
    rng = np.random.default_rng(2012)
    base = ["00:30,HR,60", "01:00,Temp,37.2", "02:15,Glucose,140", "03:00,MAP,80",
            "05:45,pH,7.4", "07:00,Urine,120", "30:00,WBC,9.1"]
    for trial in range(60):
        rows = list(base)
        bad = sorted(rng.choice(len(rows), size=int(rng.integers(1, 4)), replace=False))
        for i in bad:
            rows[i] = _mutate(rows[i], rng)
        write_set(env, "a", {132001: record(132001, rows)}, {132001: 0})
        d = pn.load(("a",), skip_malformed=True, cache=False)        # never raises
        assert len(d) == 1 and d.n_malformed <= len(bad)
        try:
            strict = pn.load(("a",), cache=False)
        except ValueError as e:
            assert "132001.txt, line " in str(e) and "skip_malformed=True" in str(e), str(e)
            assert d.n_malformed >= 1
        else:
            assert strict.n_malformed == 0 and d.n_malformed == 0   # every mutation was valid
