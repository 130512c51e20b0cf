"""The model builder: archive layout, container-style loading, CSV inference, determinism."""

from __future__ import annotations

import gzip
import io
import json
import pickle
import tarfile
from pathlib import Path
from typing import Any

import pytest

import contracts
from contracts.drift import PREDICTION, load_baseline
from contracts.features import encode_record as encode
from contracts.features import load_statistics
from tools import build_model, synthetic
from tools.build_model import BuildResult, build, csv_row

np = pytest.importorskip("numpy")
xgb = pytest.importorskip("xgboost")

ROOT = Path(__file__).resolve().parents[2]
ROWS = 1000
SEED = 11


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    return build(tmp_path_factory.mktemp("model"), rows=ROWS, seed=SEED)


@pytest.fixture(scope="module")
def stats(built: BuildResult) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(built.statistics.read_text(encoding="utf-8"))
    return document


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def _load_like_container(model_dir: Path) -> list[Any]:
    """Every regular file in the model dir: unpickle, else Booster.load_model (as 1.7-1 does)."""
    boosters = []
    for path in sorted(p for p in model_dir.iterdir() if p.is_file()):
        try:
            with path.open("rb") as handle:
                booster = pickle.load(handle)
        except Exception:
            booster = xgb.Booster()
            booster.load_model(str(path))
        booster.set_param("nthread", 1)
        boosters.append(booster)
    return boosters


def test_archive_holds_exactly_the_model_file(built: BuildResult) -> None:
    with tarfile.open(built.archive, "r:gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["xgboost-model"]
    member = members[0]
    assert member.isreg()
    assert (member.mtime, member.uid, member.gid, member.mode) == (0, 0, 0, 0o644)
    header = built.archive.read_bytes()[:10]
    assert header[:2] == b"\x1f\x8b" and header[4:8] == b"\x00\x00\x00\x00"
    assert built.statistics == built.archive.parent / "feature_statistics.json"


def test_model_predicts_prices_from_api_csv_rows(built: BuildResult, stats: dict[str, Any], tmp_path: Path) -> None:
    with tarfile.open(built.archive, "r:gz") as tar:
        tar.extractall(tmp_path, filter="data")
    boosters = _load_like_container(tmp_path)
    assert len(boosters) == 1
    booster = boosters[0]
    assert booster.num_features() == len(stats["feature_columns"])

    unseen = list(synthetic.events(400, seed=SEED + 1000))
    payload = "\n".join(csv_row(encode(event, stats)) for event in unseen)
    assert "price" not in payload and payload.count("\n") == len(unseen) - 1
    rows = np.loadtxt(io.StringIO(payload), delimiter=",", dtype=np.float64, ndmin=2)
    assert rows.shape == (len(unseen), len(contracts.load().feature_columns()))

    predictions = booster.predict(xgb.DMatrix(rows))
    prices = np.array([event["price"] for event in unseen])
    correlation = float(np.corrcoef(predictions, prices)[0, 1])
    relative_rmse = float(np.sqrt(np.mean((predictions - prices) ** 2)) / prices.mean())
    assert correlation > 0.95, correlation
    assert relative_rmse < 0.15, relative_rmse


def test_statistics_describe_the_encoding(built: BuildResult, stats: dict[str, Any]) -> None:
    contract = contracts.load()
    assert load_statistics(json.dumps(stats)) == stats
    assert stats["contract"] == {"name": contract.name, "version": contract.version}
    assert stats["scaling_method"] == "standard"
    assert stats["feature_columns"] == contract.feature_columns()
    assert stats["label"] == "price"
    assert set(stats["numeric"]) == {f.name for f in contract.numeric_features}
    for spec in stats["numeric"].values():
        assert spec["center"] == spec["fitted"]["mean"]
        assert spec["scale"] == spec["fitted"]["std"] > 0
        assert spec["impute"] == spec["fitted"]["median"]
    assert stats["ordinal"]["garden_size"]["mapping"] == {"N": 0, "S": 5, "M": 10, "L": 20}
    assert stats["nominal"]["home_type"]["columns"][-1] == "home_type_other"
    assert stats["numeric"]["year_built"]["flag_missing"] is True
    training = stats["training"]
    assert stats["training_rows"] == training["rows"]["train"] == built.train_rows
    assert training["rows"]["holdout"] == built.holdout_rows
    assert training["holdout_rmse"] == pytest.approx(built.holdout_rmse)
    assert training["container_version"] == "1.7-1"
    assert training["xgboost_version"].startswith("1.7.")
    assert training["hyperparameters"]["nthread"] == 1


def test_encode_imputes_flags_and_maps_unseen_values(stats: dict[str, Any]) -> None:
    event = next(synthetic.events(1, seed=3))
    columns = stats["feature_columns"]
    row = dict(zip(columns, encode(event, stats), strict=True))
    year = stats["numeric"]["year_built"]
    assert row["year_built"] == pytest.approx((event["year_built"] - year["center"]) / year["scale"])
    assert row["year_built_missing"] == 0.0

    messy = {
        **{k: v for k, v in event.items() if k != "year_built"},
        "home_type": " Castle ",
        "garden_size": "xl",
        "bedrooms": 99,
    }
    row = dict(zip(columns, encode(messy, stats), strict=True))
    assert row["year_built_missing"] == 1.0
    assert row["year_built"] == pytest.approx((year["impute"] - year["center"]) / year["scale"])
    bedrooms = stats["numeric"]["bedrooms"]
    assert row["bedrooms"] == pytest.approx((bedrooms["impute"] - bedrooms["center"]) / bedrooms["scale"])
    assert row["garden_size"] == 0.0
    assert row["home_type_other"] == 1.0
    assert sum(row[c] for c in stats["nominal"]["home_type"]["columns"]) == 1.0


def test_same_seed_builds_identical_bytes(built: BuildResult, tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "again"
    assert build_model.main(["--out", str(out), "--rows", str(ROWS), "--seed", str(SEED)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["holdout_rmse"] == round(built.holdout_rmse, 2)
    assert (out / "model.tar.gz").read_bytes() == built.archive.read_bytes()
    assert (out / "feature_statistics.json").read_bytes() == built.statistics.read_bytes()
    assert (out / "drift_baseline.json").read_bytes() == built.baseline.read_bytes()

    other = build(tmp_path / "other", rows=ROWS, seed=SEED + 1)
    assert other.archive.read_bytes() != built.archive.read_bytes()


def test_library_version_must_match_container() -> None:
    build_model.check_library_matches_container("1.7.4")
    with pytest.raises(ValueError, match=r"container 1\.7-1 runs xgboost 1\.7\.x"):
        build_model.check_library_matches_container("2.1.4")


def test_committed_artifact_matches_a_fresh_default_build(tmp_path: Path) -> None:
    committed = ROOT / "model"
    if not (committed / build_model.ARCHIVE_FILE).exists():
        pytest.skip("no committed model artifact under model/")
    fresh = build(tmp_path)
    assert _members(fresh.archive) == _members(committed / build_model.ARCHIVE_FILE)
    assert fresh.statistics.read_text() == (committed / build_model.STATISTICS_FILE).read_text()
    assert fresh.baseline.read_text() == (committed / build_model.BASELINE_FILE).read_text()


def test_baseline_describes_the_training_rows(built: BuildResult, stats: dict[str, Any]) -> None:
    """The baseline carries the statistics it was fitted with and counts every training row
    once per feature; the label's deciles span the training prices."""
    baseline = load_baseline(built.baseline.read_text(encoding="utf-8"))
    assert baseline["statistics"] == stats
    assert baseline["provenance"] == {"source": "tools.build_model", "seed": SEED, "rows": ROWS}
    for spec in (*baseline["features"].values(), baseline[PREDICTION]):
        assert sum(spec["counts"]) == built.train_rows
    assert set(baseline["features"]) == {*stats["numeric"], "garden_size", "year_built_missing", "home_type"}
    assert len(baseline[PREDICTION]["psi_edges"]) == 9  # prices are nearly all distinct


def test_gzip_stream_carries_no_file_name(built: BuildResult) -> None:
    with gzip.open(built.archive) as stream:
        stream.read()
    flags = built.archive.read_bytes()[3]
    assert flags & 0x08 == 0
