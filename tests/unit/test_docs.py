"""Generated documentation stays in step with the code it describes."""

from __future__ import annotations

from tools import config_reference


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
