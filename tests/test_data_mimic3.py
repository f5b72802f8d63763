"""Tests for minstn.data.mimic3 on a tiny synthetic folder (never real MIMIC data)."""
import csv

import numpy as np
import pytest

from minstn.data import mimic3 as m3

COLS = ["Hours"] + list(m3.CHANNELS)
IDX = {name: i for i, name in enumerate(m3.CHANNEL_NAMES)}
MASK = {ch: IDX[f"mask->{ch}"] for ch in m3.CHANNELS}


def write_episode(path, rows):
    """rows: list of dicts {column: value}; missing columns are empty cells."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLS)
        for r in rows:
            w.writerow([r.get(c, "") for c in COLS])


def make_root(tmp_path):
    root = tmp_path / "in-hospital-mortality"
    episodes = {
        "train": {
            "100_episode1_timeseries.csv": (1, [
                {"Hours": 0.2, "Heart Rate": 80, "Glascow coma scale total": "15"},
                {"Hours": 0.9, "Heart Rate": 90},                     # same bin: last wins
                {"Hours": 1.0, "Glascow coma scale eye opening": "To Pain"},   # bin 0 (k, k+1]
                {"Hours": 2.5, "Glascow coma scale total": "7.0",     # numeric alias of "7"
                 "Capillary refill rate": "1.0", "Temperature": 38.5},
                {"Hours": 48.0, "Heart Rate": 70},                    # last bin
                {"Hours": 49.0, "Heart Rate": 1},                     # beyond 48 h: ignored
                {"Hours": -0.5, "Heart Rate": 2},                     # before admission: ignored
            ]),
            "200_episode1_timeseries.csv": (0, [
                {"Hours": 5.5, "Weight": 70, "pH": 7.3},
            ]),
            "300_episode2_timeseries.csv": (0, []),
        },
        "test": {
            "400_episode1_timeseries.csv": (1, [
                {"Hours": 3.2, "Glascow coma scale verbal response": "1.0 ET/Trach"},
            ]),
        },
    }
    for split, eps in episodes.items():
        d = root / split
        d.mkdir(parents=True)
        with open(d / "listfile.csv", "w", newline="") as f:
            f.write("stay,y_true\n")
            for stay, (y, rows) in eps.items():
                f.write(f"{stay},{y}\n")
                write_episode(d / stay, rows)
    return root


def test_channel_layout():
    assert len(m3.CHANNEL_NAMES) == 76 and len(set(m3.CHANNEL_NAMES)) == 76
    assert m3.CHANNEL_NAMES[:3] == ("Capillary refill rate->0.0", "Capillary refill rate->1.0",
                                    "Diastolic blood pressure")
    assert m3.CHANNEL_NAMES[59:] == tuple(f"mask->{c}" for c in m3.CHANNELS)
    assert sum(len(v) for v in m3.CATEGORIES.values()) == 47
    assert len(m3.CONTINUOUS_CHANNELS) == 12


def test_load_train(tmp_path):
    root = make_root(tmp_path)
    d = m3.load(root, "train")
    assert d.x.shape == (3, 48, 76) and d.x.dtype == np.float32
    assert d.y.tolist() == [1, 0, 0] and d.y.dtype == np.int64
    assert d.ids.tolist() == ["100_episode1_timeseries.csv", "200_episode1_timeseries.csv",
                              "300_episode2_timeseries.csv"]
    x = d.x[0]
    hr = x[:, IDX["Heart Rate"]]
    assert hr[0] == 90 and np.all(hr[1:47] == 90) and hr[47] == 70       # forward fill
    assert x[0, MASK["Heart Rate"]] == 1 and x[1, MASK["Heart Rate"]] == 0
    assert x[47, MASK["Heart Rate"]] == 1
    eye = "Glascow coma scale eye opening"
    assert x[0, IDX[f"{eye}->To Pain"]] == 1 and x[0, MASK[eye]] == 1
    gcs = "Glascow coma scale total"
    assert x[0, IDX[f"{gcs}->15"]] == 1 and x[1, IDX[f"{gcs}->15"]] == 1
    assert x[2, IDX[f"{gcs}->7"]] == 1 and x[2, IDX[f"{gcs}->15"]] == 0
    block = [IDX[f"{gcs}->{c}"] for c in m3.CATEGORIES[gcs]]
    assert np.all(d.x[:, :, block].sum(-1) == 1)                        # exactly one-hot
    assert x[1, IDX["Temperature"]] == 36.6 and x[2, IDX["Temperature"]] == 38.5
    assert x[2, IDX["Capillary refill rate->1.0"]] == 1
    # never observed -> normal values, mask 0
    empty = d.x[2]
    assert np.all(empty[:, 59:] == 0)
    for ch in m3.CHANNELS:
        if ch in m3.CATEGORIES:
            assert np.all(empty[:, IDX[f"{ch}->{m3.NORMAL_VALUES[ch]}"]] == 1)
        else:
            assert np.allclose(empty[:, IDX[ch]], float(m3.NORMAL_VALUES[ch]))
    w = d.x[1, :, IDX["Weight"]]
    assert np.all(w[:5] == 81.0) and np.all(w[5:] == 70)                # 5.5 h -> bin 5
    assert np.array_equal(d.mask, d.x[:, :, 59:])


def test_load_test_split_and_standardizer(tmp_path):
    root = make_root(tmp_path)
    tr = m3.load(root, "train")
    te = m3.load(root, split="test")
    assert te.x.shape == (1, 48, 76) and te.y.tolist() == [1]
    assert te.x[0, 3, IDX["Glascow coma scale verbal response->1.0 ET/Trach"]] == 1
    norm = m3.Standardizer.fit(tr.x)
    z = norm.transform(tr.x)
    cont = list(m3.CONTINUOUS_CHANNELS)
    varying = tr.x[:, :, cont].reshape(-1, 12).std(0, dtype=np.float64) > 1e-6
    assert np.allclose(z[:, :, cont].reshape(-1, 12).mean(0), 0, atol=1e-4)
    assert np.allclose(z[:, :, cont].reshape(-1, 12).std(0)[varying], 1, atol=1e-4)
    other = [i for i in range(76) if i not in cont]
    assert np.array_equal(z[:, :, other], tr.x[:, :, other])
    assert norm.transform(te.x).shape == te.x.shape


def test_bad_category_names_file_line_column(tmp_path):
    root = make_root(tmp_path)
    path = root / "train" / "200_episode1_timeseries.csv"
    write_episode(path, [{"Hours": 1, "Heart Rate": 70},
                         {"Hours": 2, "Glascow coma scale motor response": "Wiggles"}])
    with pytest.raises(ValueError) as e:
        m3.load(root, "train")
    msg = str(e.value)
    assert "200_episode1_timeseries.csv" in msg and "line 3" in msg
    assert "Glascow coma scale motor response" in msg and "Wiggles" in msg
    d = m3.load(root, "train", skip_malformed=True)
    assert d.n_malformed == 1 and d.x[1, 0, IDX["Heart Rate"]] == 70


def test_non_numeric_value(tmp_path):
    root = make_root(tmp_path)
    write_episode(root / "train" / "200_episode1_timeseries.csv", [{"Hours": 1, "pH": "high"}])
    with pytest.raises(ValueError, match=r"line 2, column 'pH'"):
        m3.load(root, "train")


def test_layout_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="in-hospital-mortality"):
        m3.load(tmp_path / "nope", "train")
    root = make_root(tmp_path)
    with pytest.raises(ValueError, match="'train' or 'test'"):
        m3.load(root, "val")
    (root / "test" / "listfile.csv").unlink()
    with pytest.raises(FileNotFoundError, match="listfile.csv"):
        m3.load(root, "test")
    (root / "train" / "300_episode2_timeseries.csv").unlink()
    with pytest.raises(FileNotFoundError, match="300_episode2_timeseries.csv"):
        m3.load(root, "train")


def test_bad_headers(tmp_path):
    root = make_root(tmp_path)
    (root / "train" / "listfile.csv").write_text("episode,label\nx,1\n")
    with pytest.raises(ValueError, match="stay,y_true"):
        m3.load(root, "train")
    root2 = make_root(tmp_path / "two")
    (root2 / "test" / "400_episode1_timeseries.csv").write_text("Hours,Heart Rate\n1,80\n")
    with pytest.raises(ValueError, match="missing") as e:
        m3.load(root2, "test")
    assert "400_episode1_timeseries.csv" in str(e.value) and "pH" in str(e.value)


def test_skipping_counts_every_kind_of_bad_stay_and_line(tmp_path):
    root = make_root(tmp_path)
    train = root / "train"
    write_episode(train / "200_episode1_timeseries.csv", [
        {"Hours": 1, "Heart Rate": 70}, {"Hours": "soon", "Heart Rate": 71},
        {"Hours": 2, "pH": "high"}])
    with open(train / "200_episode1_timeseries.csv", "a") as f:
        f.write("3,1,2\n")                                           # too few fields
    (train / "500_episode1_timeseries.csv").write_text("")           # empty file
    (train / "600_episode1_timeseries.csv").write_text("Hours,Heart Rate\n1,80\n")   # header
    with open(train / "listfile.csv", "a") as f:
        f.write("500_episode1_timeseries.csv,0\n600_episode1_timeseries.csv,1\n"
                "700_episode1_timeseries.csv,0\n"                    # no such file
                "200_episode1_timeseries.csv,0\n"                    # listed twice
                "800_episode1_timeseries.csv,maybe\n")               # bad listfile line
    d = m3.load(root, "train", skip_malformed=True)
    assert d.ids.tolist() == ["100_episode1_timeseries.csv", "200_episode1_timeseries.csv",
                              "300_episode2_timeseries.csv"]
    assert {k: c for k, c in d.skipped.items() if c} == {
        "hours": 1, "cell": 1, "fields": 1, "empty_record": 1, "header": 1, "missing_file": 1,
        "duplicate_record": 1, "listfile_line": 1, "past_window": 2}
    assert set(d.skipped) == set(m3.SKIP_KINDS)
    assert d.n_malformed == 3 and len(d.y) == len(d.x) == 3
    listed = len((train / "listfile.csv").read_text().splitlines()) - 1
    assert listed == len(d) + sum(d.skipped[k] for k in m3.RECORD_SKIPS)
    with pytest.raises(ValueError, match=r"listfile.csv, line 9"):   # strict: the first one
        m3.load(root, "train")
