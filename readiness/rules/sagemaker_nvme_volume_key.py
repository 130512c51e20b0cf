"""No KMS volume key on instance types with NVMe instance storage."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.model import Stack
from readiness.rules._sagemaker import ENDPOINT_CONFIG, variants
from stacks.instance_types import has_nvme


def check(stack: Stack) -> Iterator[Outcome]:
    for config in stack.of_type(ENDPOINT_CONFIG):
        if not config.prop("KmsKeyId"):
            continue
        nvme = sorted(str(v.get("InstanceType")) for v in variants(config) if has_nvme(v.get("InstanceType")))
        yield Outcome(config, f"KmsKeyId set with NVMe instance types {nvme}" if nvme else None)


RULE = Rule(
    id="RDY-SM5",
    title="No KMS volume key on NVMe instance types",
    explanation=(
        "Instance types with local NVMe storage (ml.*d, ml.g4dn, ml.g5, ml.p4d, ...) encrypt it with a "
        "hardware key; SageMaker rejects an endpoint config that also sets KmsKeyId for them."
    ),
    fix="Pick an instance type without instance storage, or omit kms_key_id for these variants.",
    check=check,
)
