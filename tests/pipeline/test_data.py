"""HIGGS data: the synthetic generator, the CSV reader and its errors, downloads over HTTP."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
from higgs.model import split
from higgs.schema import COLUMNS
from higgs.sources import HiggsDataError, load, read_csv
from higgs.synthetic import synthetic_higgs


def write_csv(path: Path, frame, gzipped: bool = True) -> Path:
    text = frame.to_csv(header=False, index=False)
    if gzipped:
        with gzip.open(path, "wt") as out:
            out.write(text)
    else:
        path.write_text(text)
    return path


def test_synthetic_has_higgs_shape_and_a_balanced_label():
    frame = synthetic_higgs(20_000, seed=1)
    assert list(frame.columns) == COLUMNS and len(COLUMNS) == 29
    assert set(frame.dtypes.astype(str)) == {"float32"}
    assert set(np.unique(frame["label"])) == {0.0, 1.0}
    assert 0.45 < frame["label"].mean() < 0.55
    assert (synthetic_higgs(100, seed=1).to_numpy() == frame.iloc[:100].to_numpy()).all()


def test_synthetic_label_is_learnable():
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score

    train, _, test = split(synthetic_higgs(40_000, seed=2))
    booster = xgb.train(
        {"objective": "binary:logistic", "tree_method": "hist"},
        xgb.DMatrix(train.drop(columns=["label"]), label=train["label"]),
        num_boost_round=30,
    )
    scores = booster.predict(xgb.DMatrix(test.drop(columns=["label"])))
    assert roc_auc_score(test["label"], scores) > 0.75


def test_split_keeps_the_last_rows_for_test():
    frame = synthetic_higgs(10_000)
    train, validation, test = split(frame)
    assert len(test) == 1_000 and test.index[0] == 9_000
    assert len(train) + len(validation) + len(test) == 10_000
    assert train.index[-1] < validation.index[0] < test.index[0]


def test_reads_a_gzipped_csv_prefix(tmp_path):
    frame = synthetic_higgs(500)
    path = write_csv(tmp_path / "HIGGS.csv.gz", frame)
    loaded = read_csv(path, rows=200)
    assert loaded.shape == (200, 29)
    np.testing.assert_allclose(loaded.to_numpy(), frame.iloc[:200].to_numpy(), rtol=1e-6)


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("1,2,3", "line 4: 3 columns, expected 29"),
        (",".join(["1"] * 30), "line 4: 30 columns, expected 29"),
        (",".join(["1"] * 10 + ["abc"] + ["1"] * 18), "line 4, column 'jet2_pt': 'abc'"),
    ],
)
def test_malformed_row_is_named(tmp_path, bad_line, message):
    good = synthetic_higgs(3).to_csv(header=False, index=False)
    path = tmp_path / "bad.csv"
    path.write_text(good + bad_line + "\n" + good)
    with pytest.raises(HiggsDataError, match=message):
        read_csv(path)


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.csv.gz"
    path.write_bytes(b"")
    with pytest.raises(HiggsDataError, match="empty"):
        read_csv(path)


def test_unknown_source_names_the_choices():
    with pytest.raises(HiggsDataError, match="synthetic"):
        load("ftp://example/HIGGS.csv.gz", 10)


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with Range support and counts GET requests."""

    requests: list[str] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        type(self).requests.append(self.headers.get("Range") or "full")
        path = Path(self.translate_path(self.path))
        data = path.read_bytes()
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.send_response(206)
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


@pytest.fixture
def http_server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    _RangeHandler.requests = []
    handler = lambda *a, **k: _RangeHandler(*a, directory=str(root), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_download_over_http_is_cached_resumed_and_checked(tmp_path, http_server):
    root, url = http_server
    frame = synthetic_higgs(2_000)
    data = write_csv(root / "HIGGS.csv.gz", frame).read_bytes()
    cache = tmp_path / "cache"
    cache.mkdir()
    # An interrupted earlier download left the first half.
    (cache / "HIGGS.csv.gz.part").write_bytes(data[: len(data) // 2])
    digest = hashlib.sha256(data).hexdigest()
    loaded = load(f"{url}/HIGGS.csv.gz", 1_000, cache_dir=cache, sha256=digest)
    assert loaded.shape == (1_000, 29)
    assert _RangeHandler.requests == [f"bytes={len(data) // 2}-"]
    assert (cache / "HIGGS.csv.gz").read_bytes() == data
    load(f"{url}/HIGGS.csv.gz", 10, cache_dir=cache, sha256=digest)
    assert len(_RangeHandler.requests) == 1  # served from the cache


def test_download_with_wrong_checksum_is_refused(tmp_path, http_server):
    root, url = http_server
    write_csv(root / "HIGGS.csv.gz", synthetic_higgs(100))
    with pytest.raises(HiggsDataError, match="does not match the expected"):
        load(f"{url}/HIGGS.csv.gz", 10, cache_dir=tmp_path / "c", sha256="0" * 64)


def _s3_fields(server, **overrides) -> dict[str, str]:
    fields = {
        "endpoint_url": server.endpoint_url,
        "region": "us-east-1",
        "access_key": server.access_key,
        "secret_key": server.secret_key,
    }
    return {**fields, **overrides}


def test_reads_from_s3_into_the_cache(tmp_path, s3):
    frame = synthetic_higgs(3_000, seed=4)
    csv_file = write_csv(tmp_path / "higgs-small.csv.gz", frame)
    s3.client().fput_object(s3.bucket, "datasets/higgs-small.csv.gz", str(csv_file))
    uri = f"s3://{s3.bucket}/datasets/higgs-small.csv.gz"
    cache = tmp_path / "cache"

    loaded = load(uri, 2_500, cache_dir=cache, s3_conn=_s3_fields(s3))
    assert loaded.shape == (2_500, 29)
    assert np.allclose(loaded.to_numpy(), frame.iloc[:2_500].to_numpy(), atol=1e-6)
    cached = cache / "s3" / s3.bucket / "datasets" / "higgs-small.csv.gz"
    assert cached.read_bytes() == csv_file.read_bytes()
    assert not list(cached.parent.glob("*.part*"))  # no temporary file left


@pytest.mark.parametrize(
    ("key", "overrides", "message"),
    [
        ("datasets/missing.csv.gz", {}, r"NoSuchKey.*check the key and the credentials"),
        ("datasets/x.csv.gz", {"secret_key": "wrong-secret-key"}, r"refused.*access key .*HIGGS_"),
        # No keys: the worker's own chain finds none here, and the refusal says so.
        ("datasets/x.csv.gz", {"access_key": "", "secret_key": ""}, r"AccessDenied.*anonymous"),
        ("datasets/x.csv.gz", {"endpoint_url": "http://127.0.0.1:9"}, r"cannot reach .*:9"),
        ("", {}, r"expected s3://BUCKET/KEY"),
    ],
)
def test_s3_source_errors_name_the_cause(tmp_path, s3, key, overrides, message):
    uri = f"s3://{s3.bucket}/{key}"
    with pytest.raises(HiggsDataError, match=message):
        load(uri, 10, cache_dir=tmp_path, s3_conn=_s3_fields(s3, **overrides))
    assert not list(tmp_path.rglob("*.csv.gz"))
