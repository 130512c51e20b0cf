"""Generated documentation stays in step with the code it describes."""

from __future__ import annotations

from tests.synth import SynthesizedStage
from tools import config_reference, training_doc


def test_configuration_reference_is_current() -> None:
    assert config_reference.DOC.read_text(encoding="utf-8") == config_reference.render(), (
        "docs/configuration.md is stale: run `python -m tools.config_reference`"
    )


def test_every_alarm_threshold_is_documented() -> None:
    text = config_reference.DOC.read_text(encoding="utf-8")
    for name in (
        "kinesis_iterator_age_seconds",
        "firehose_freshness_seconds",
        "api_latency_p99_ms",
        "latency_p99_ms",
        "cpu_utilization_percent",
    ):
        assert f"{name}`" in text


def test_training_flow_and_cost_are_current(sandbox: SynthesizedStage, prod: SynthesizedStage) -> None:
    """docs/training.md's diagram and cost table are what the synthesized stages define."""
    committed = training_doc.DEFAULT_OUTPUT.read_text(encoding="utf-8")
    assert training_doc.render(committed, [sandbox.outdir, prod.outdir]) == committed, (
        "docs/training.md is stale: run `make training-doc`"
    )
