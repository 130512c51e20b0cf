"""Session fixtures: every stage is synthesized once (with all compliance packs) and shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.synth import STAGES, SynthesizedStage, synthesize

_cache: dict[str, SynthesizedStage] = {}


def _stage(name: str, tmp_path_factory: pytest.TempPathFactory) -> SynthesizedStage:
    if name not in _cache:
        _cache[name] = synthesize(name, Path(tmp_path_factory.mktemp(f"cdk-{name}")))
    return _cache[name]


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedStage:
    """The default stage, as `make synth` builds it."""
    return _stage("sandbox", tmp_path_factory)


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedStage:
    return _stage("prod", tmp_path_factory)


@pytest.fixture(scope="session", params=STAGES)
def every_stage(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> SynthesizedStage:
    return _stage(request.param, tmp_path_factory)


def pytest_configure(config: pytest.Config) -> None:
    # Synth never needs credentials; make sure no ambient profile leaks into tests.
    for variable in ("AWS_PROFILE", "CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION"):
        os.environ.pop(variable, None)
