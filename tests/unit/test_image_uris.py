"""The cached SageMaker XGBoost image URIs: lookups, errors, and agreement with the SDK."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stacks import image_uris
from stacks.image_uris import DEFAULT_VERSION, xgboost_image_uri

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("region", "version", "uri"),
    [
        (
            "us-east-1",
            "1.7-1",
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
        ),
        (
            "eu-west-1",
            "1.7-1",
            "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1",
        ),
        (
            "cn-north-1",
            "1.7-1",
            "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost:1.7-1",
        ),
        (
            "us-gov-west-1",
            "1.7-1",
            "414596584902.dkr.ecr.us-gov-west-1.amazonaws.com/sagemaker-xgboost:1.7-1",
        ),
        (
            "us-iso-east-1",
            "1.7-1",
            "833128469047.dkr.ecr.us-iso-east-1.c2s.ic.gov/sagemaker-xgboost:1.7-1",
        ),
        (
            "ap-southeast-2",
            "3.0-5",
            "783357654285.dkr.ecr.ap-southeast-2.amazonaws.com/sagemaker-xgboost:3.0-5",
        ),
    ],
)
def test_cached_uri(region: str, version: str, uri: str) -> None:
    assert xgboost_image_uri(region, version) == uri


def test_default_version_is_cached_and_used() -> None:
    assert DEFAULT_VERSION == "1.7-1"
    assert DEFAULT_VERSION in image_uris.cached_versions()
    assert xgboost_image_uri("us-west-2").endswith("/sagemaker-xgboost:1.7-1")


def test_china_regions_use_the_china_domain() -> None:
    uris = image_uris.image_uris_by_region()
    china = {region: uri for region, uri in uris.items() if region.startswith("cn-")}
    assert set(china) == {"cn-north-1", "cn-northwest-1"}
    assert all(f".dkr.ecr.{r}.amazonaws.com.cn/" in uri for r, uri in china.items())
    assert not any(".amazonaws.com.cn/" in uri for r, uri in uris.items() if r not in china)


def test_unknown_region_names_region_and_known_regions() -> None:
    with pytest.raises(ValueError) as error:
        xgboost_image_uri("mars-north-1")
    message = str(error.value)
    assert "'mars-north-1'" in message
    assert "known regions:" in message
    assert "us-east-1" in message and "cn-north-1" in message


def test_unresolved_region_token_is_rejected() -> None:
    with pytest.raises(ValueError, match="concrete region"):
        xgboost_image_uri("${Token[AWS.Region.9]}")


def test_unknown_version_names_cached_versions() -> None:
    with pytest.raises(ValueError, match=r"'0\.72'.*cached versions: 1\.7-1"):
        xgboost_image_uri("us-east-1", "0.72")


def test_cache_file_is_in_canonical_form() -> None:
    text = image_uris.CACHE_FILE.read_text(encoding="utf-8")
    assert text == image_uris.render(image_uris.load_cache())
    for entry in image_uris.load_cache()["versions"].values():
        assert list(entry["uris"]) == sorted(entry["uris"])


def test_lookup_imports_neither_the_sdk_nor_botocore() -> None:
    code = (
        "import sys; from stacks.image_uris import xgboost_image_uri; "
        "xgboost_image_uri('us-east-1'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sagemaker', 'botocore')))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def _cached_versions() -> dict[str, Any]:
    versions: dict[str, Any] = image_uris.load_cache()["versions"]
    return versions


def test_cache_matches_registry_file_of_installed_sdk() -> None:
    try:
        image_uris.registry_file()
    except FileNotFoundError as error:
        pytest.skip(f"SageMaker SDK distribution not installed: {error}")
    versions = _cached_versions()
    assert image_uris.resolve_from_registry_file(sorted(versions)) == versions


def test_cache_matches_sdk_retrieve() -> None:
    try:
        image_uris._import_sdk()
    except ImportError as error:
        pytest.skip(f"SageMaker Python SDK not importable (pip install sagemaker-core): {error}")
    versions = _cached_versions()
    assert image_uris.resolve_with_sdk(sorted(versions)) == versions
