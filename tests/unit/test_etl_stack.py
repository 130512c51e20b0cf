"""ETL stack: Glue 5 job with bookmarks and encryption, crawler, workflow, roles and grants."""

from __future__ import annotations

import json
from typing import Any

import pytest

import contracts
from stacks.config import ConfigError, load_stage
from tests.synth import SynthesizedStage


def only(stage: SynthesizedStage, resource_type: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = stage.resources("Etl", resource_type).items()
    return logical_id, resource


def policy_statements(stage: SynthesizedStage, prefix: str) -> list[dict[str, Any]]:
    (policy,) = [p for k, p in stage.resources("Etl", "AWS::IAM::ManagedPolicy").items() if k.startswith(prefix)]
    return policy["Properties"]["PolicyDocument"]["Statement"]


def actions(statements: list[dict[str, Any]]) -> set[str]:
    return {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}


def test_job_settings_from_config(every_stage: SynthesizedStage) -> None:
    _, job = only(every_stage, "AWS::Glue::Job")
    props, config = job["Properties"], every_stage.config.etl
    assert props["GlueVersion"] == "5.0" and props["Command"]["Name"] == "glueetl"
    assert (props["WorkerType"], props["NumberOfWorkers"]) == (config.worker_type, config.number_of_workers)
    assert (props["Timeout"], props["MaxRetries"]) == (config.timeout_minutes, config.max_retries)
    args = props["DefaultArguments"]
    assert args["--job-bookmark-option"] == "job-bookmark-enable"
    assert args["--enable-continuous-cloudwatch-log"] == "true"
    assert args["--enable-spark-ui"] == "false"
    assert args["--scaling_method"] == config.scaling_method
    assert args["--validation_fraction"] == str(config.validation_fraction)
    assert props["SecurityConfiguration"]


def test_security_configuration_encrypts_s3_logs_and_bookmarks(sandbox: SynthesizedStage) -> None:
    _, config = only(sandbox, "AWS::Glue::SecurityConfiguration")
    encryption = config["Properties"]["EncryptionConfiguration"]
    assert encryption["S3Encryptions"][0]["S3EncryptionMode"] == "SSE-KMS"
    assert encryption["CloudWatchEncryption"]["CloudWatchEncryptionMode"] == "SSE-KMS"
    assert encryption["JobBookmarksEncryption"]["JobBookmarksEncryptionMode"] == "CSE-KMS"


def test_logs_key_allows_regional_logs_service_with_context(sandbox: SynthesizedStage) -> None:
    (key,) = [k for i, k in sandbox.resources("Etl", "AWS::KMS::Key").items() if i.startswith("EtlKey")]
    (statement,) = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if "logs." in json.dumps(s["Principal"])]
    assert "kms:EncryptionContext:aws:logs:arn" in statement["Condition"]["ArnLike"]


def test_extra_python_files_carry_transforms_and_contract(sandbox: SynthesizedStage) -> None:
    _, job = only(sandbox, "AWS::Glue::Job")
    url = job["Properties"]["DefaultArguments"]["--extra-py-files"]["Fn::Sub"]
    assert url.endswith(".zip")
    (staged,) = sandbox.outdir.glob(f"asset.{url.rsplit('/', 1)[1].removesuffix('.zip')}*")
    assert (staged / "housing_etl" / "pipeline.py").exists()
    assert (staged / "contracts" / "housing_event.json").read_text() == contracts.contract_text()


def test_crawler_catalogues_curated_zone_with_security_configuration(sandbox: SynthesizedStage) -> None:
    _, crawler = only(sandbox, "AWS::Glue::Crawler")
    props = crawler["Properties"]
    assert props["DatabaseName"] == "mlpipeline_sandbox_curated"
    assert props["CrawlerSecurityConfiguration"]
    assert "curated/events/" in json.dumps(props["Targets"])


def test_workflow_schedule_then_job_then_crawler(sandbox: SynthesizedStage) -> None:
    job_id, _ = only(sandbox, "AWS::Glue::Job")
    crawler_id, _ = only(sandbox, "AWS::Glue::Crawler")
    triggers = {
        t["Properties"]["Type"]: t["Properties"] for t in sandbox.resources("Etl", "AWS::Glue::Trigger").values()
    }
    assert triggers["SCHEDULED"]["Schedule"] == sandbox.config.etl.schedule
    assert triggers["SCHEDULED"]["Actions"] == [{"JobName": {"Ref": job_id}}]
    (condition,) = triggers["CONDITIONAL"]["Predicate"]["Conditions"]
    assert condition == {"JobName": {"Ref": job_id}, "State": "SUCCEEDED", "LogicalOperator": "EQUALS"}
    assert triggers["CONDITIONAL"]["Actions"] == [{"CrawlerName": {"Ref": crawler_id}}]
    assert all(t["StartOnCreation"] for t in triggers.values())


def test_roles_have_logs_kms_association_and_lf_data_access(sandbox: SynthesizedStage) -> None:
    for prefix in ("JobPolicy", "CrawlerPolicy"):
        granted = actions(policy_statements(sandbox, prefix))
        assert {"logs:AssociateKmsKey", "lakeformation:GetDataAccess", "kms:Decrypt"} <= granted
        assert not any(a.endswith("*") for a in granted)
    assert {"s3:PutObject", "kms:GenerateDataKey"} <= actions(policy_statements(sandbox, "JobPolicy"))
    assert "glue:CreateTable" in actions(policy_statements(sandbox, "CrawlerPolicy"))


def test_lake_formation_grants_for_crawler(sandbox: SynthesizedStage) -> None:
    grants = [g["Properties"] for g in sandbox.resources("Etl", "AWS::LakeFormation::PrincipalPermissions").values()]
    database = [g for g in grants if "Database" in g["Resource"]]
    assert database and database[0]["Permissions"] == ["CREATE_TABLE", "ALTER", "DESCRIBE"]
    assert sum("DataLocation" in g["Resource"] for g in grants) == 2


def test_etl_deploys_after_the_data_lake(sandbox: SynthesizedStage) -> None:
    assert sandbox.stacks["DataLake"] in sandbox.stacks["Etl"].dependencies


def test_failed_runs_reach_the_alarm_topic(sandbox: SynthesizedStage) -> None:
    (rule,) = sandbox.resources("Etl", "AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.glue"] and set(pattern["detail"]["state"]) == {"FAILED", "TIMEOUT", "ERROR"}
    (target,) = rule["Properties"]["Targets"]
    assert "Fn::ImportValue" in json.dumps(target["Arn"]) and target["DeadLetterConfig"]


@pytest.mark.parametrize(
    ("etl", "path"),
    [
        ({"number_of_workers": 1}, "stages.s.etl.number_of_workers"),
        ({"worker_type": "Standard"}, "stages.s.etl.worker_type"),
        ({"schedule": "every day"}, "stages.s.etl.schedule"),
        ({"scaling_method": "zscore"}, "stages.s.etl.scaling_method"),
        ({"validation_fraction": 0.9}, "stages.s.etl.validation_fraction"),
    ],
)
def test_etl_config_validation(etl: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_stage({"s": {"etl": etl}}, "s")
    assert error.value.path == path
