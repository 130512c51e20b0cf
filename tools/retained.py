"""What CloudFormation keeps when a stage's stacks are deleted, and what blocks a delete.

Outside sandbox stages the stateful resources are retained: a destroy is refused without
confirmation and lists them; after a destroy each is named with the command that deletes
it. SageMaker deletes no model package group that still holds versions, so a sandbox
destroy deletes the versions first.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks.config import StageConfig
from stacks.names import stack_names
from tools.prerequisites import error_code
from tools.synth_summary import short_name, stacks_of

RETAINED_POLICIES = {"Retain", "RetainExceptOnCreate", "Snapshot"}


@dataclass(frozen=True)
class Retained:
    """A resource CloudFormation keeps when its stack is deleted."""

    stack: str
    logical_id: str
    resource_type: str
    physical_id: str | None = None

    def __str__(self) -> str:
        return f"{self.stack}: {short_name(self.logical_id)} ({self.resource_type})"

    def delete_command(self, region: str) -> str | None:
        template = DELETE_COMMANDS.get(self.resource_type)
        if template is None or not self.physical_id:
            return None
        return template.format(region=region, id=shlex.quote(self.physical_id))


DELETE_COMMANDS = {
    "AWS::Kinesis::Stream": (
        "aws kinesis delete-stream --region {region} --stream-name {id} --enforce-consumer-deletion"
    ),
    "AWS::S3::Bucket": "aws s3 rb --region {region} s3://{id} --force  (versioned: delete the object versions first)",
    "AWS::KMS::Key": "aws kms schedule-key-deletion --region {region} --key-id {id} --pending-window-in-days 7",
    "AWS::Logs::LogGroup": "aws logs delete-log-group --region {region} --log-group-name {id}",
    "AWS::DynamoDB::Table": "aws dynamodb delete-table --region {region} --table-name {id}",
    "AWS::SageMaker::ModelPackageGroup": (
        "aws sagemaker delete-model-package-group --region {region} --model-package-group-name {id}  "
        "(delete its model package versions first)"
    ),
}


def is_assembly_of(assembly: Path, stage: StageConfig) -> bool:
    """Whether `assembly` holds a synth of `stage` (and not of another stage)."""
    if not (assembly / "manifest.json").is_file():
        return False
    names = [s["name"] for s in stacks_of(assembly)]
    return bool(names) and set(names) <= stack_names(stage.name)


def retained_resources(assembly: Path) -> list[Retained]:
    """Every resource of the assembly whose DeletionPolicy keeps it when its stack is deleted."""
    return [
        Retained(stack["name"], logical_id, str(resource["Type"]))
        for stack in stacks_of(assembly)
        for logical_id, resource in stack["template"].get("Resources", {}).items()
        if resource.get("DeletionPolicy") in RETAINED_POLICIES
    ]


def deleted_package_groups(assembly: Path) -> list[str]:
    """Model package groups the stage's stacks delete (sandbox stages; other stages retain them)."""
    return [
        str(resource["Properties"]["ModelPackageGroupName"])
        for stack in stacks_of(assembly)
        for resource in stack["template"].get("Resources", {}).values()
        if resource.get("Type") == "AWS::SageMaker::ModelPackageGroup"
        and resource.get("DeletionPolicy") not in RETAINED_POLICIES
    ]


def delete_model_packages(sagemaker: Any, group: str) -> int:
    """Delete every version in `group` (SageMaker deletes no group that holds one); how many."""
    from botocore.exceptions import ClientError

    arns = []
    try:
        for page in sagemaker.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group):
            arns += [p["ModelPackageArn"] for p in page.get("ModelPackageSummaryList", [])]
    except ClientError as error:
        if error_code(error) in ("ValidationException", "ResourceNotFound"):
            return 0  # the group was never deployed
        raise
    for arn in arns:
        sagemaker.delete_model_package(ModelPackageName=arn)
    return len(arns)


@dataclass
class StageStacks:
    """The deployed stacks of a stage, through a CloudFormation client (or a fake)."""

    cloudformation: Any
    names: list[str] = field(default_factory=list)

    def disable_termination_protection(self) -> list[str]:
        """Turn termination protection off on every stack of the stage that exists; their names."""
        from botocore.exceptions import ClientError

        changed = []
        for name in self.names:
            try:
                self.cloudformation.update_termination_protection(EnableTerminationProtection=False, StackName=name)
            except ClientError as error:
                if "does not exist" in str(error):
                    continue
                raise
            changed.append(name)
        return changed

    def physical_ids(self, retained: Iterable[Retained]) -> list[Retained]:
        """The retained resources with their physical IDs, read before their stacks are deleted."""
        from botocore.exceptions import ClientError

        found = []
        for item in retained:
            try:
                detail = self.cloudformation.describe_stack_resource(
                    StackName=item.stack, LogicalResourceId=item.logical_id
                )["StackResourceDetail"]
            except ClientError:
                found.append(item)  # not deployed: nothing will be left behind
                continue
            found.append(
                Retained(item.stack, item.logical_id, item.resource_type, str(detail.get("PhysicalResourceId") or ""))
            )
        return found


def refusal(stage: StageConfig, assembly: Path) -> str:
    retained = retained_resources(assembly) if is_assembly_of(assembly, stage) else []
    lines = [
        f"error: refusing to destroy stage {stage.name!r}: it is not a sandbox stage.",
        "  Its stacks have termination protection on, and its stateful resources (the data lake buckets and",
        "  their KMS key, the catalog) are retained: deleting the stacks leaves them, and their cost, behind.",
    ]
    if retained:
        lines.append(f"  Retained on delete ({len(retained)}):")
        lines += [f"    {r}" for r in retained]
    else:
        lines.append(f"  (`make synth STAGE={stage.name}` lists the resources it retains)")
    lines += [
        f"  To destroy it anyway: make destroy STAGE={stage.name} CONFIRM={stage.name}",
        "  (this turns termination protection off for the stage's stacks first).",
    ]
    return "\n".join(lines)


def after_destroy_notes(stage: StageConfig, region: str, retained: Sequence[Retained]) -> str:
    notes = [f"Stage {stage.name} destroyed. Left in the account, by design or by AWS:"]
    if retained:
        notes.append(f"  retained resources ({len(retained)}): " + "; ".join(str(r) for r in retained))
        for item in retained:
            command = item.delete_command(region)
            if command:
                notes.append(f"    delete {short_name(item.logical_id)} when no longer needed: {command}")
    notes += [
        "  KMS keys are scheduled for deletion (pending window), not deleted at once.",
        "  The Glue Data Catalog encryption setting of the account still names the deleted lake key; reset it if",
        "  no other stage uses the catalog: aws glue put-data-catalog-encryption-settings --region "
        + region
        + ' --data-catalog-encryption-settings \'{"EncryptionAtRest":{"CatalogEncryptionMode":"DISABLED"},'
        '"ConnectionPasswordEncryption":{"ReturnConnectionPasswordEncrypted":false}}\'',
        "  The account-level API Gateway CloudWatch role setting points to a deleted role until another stack sets it.",
    ]
    return "\n".join(notes)
