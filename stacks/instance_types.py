"""SageMaker instance types, parsed: `ml.<series><generation><options>[-<variant>].<size>`.

Two deploy-time rules depend on the family, and both the stage config and the readiness
rules read them from here: burstable instances (the `t` series) cannot autoscale, and
types with local NVMe instance storage reject a KMS volume key. Matching by prefix gets
both wrong (`ml.trn1` starts with `ml.t` but is not burstable), so the name is parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

INSTANCE_TYPE = re.compile(
    r"ml\.(?P<family>(?P<series>[a-z]+)(?P<generation>[0-9]+)(?P<options>[a-z]*)(?:-[a-z0-9]+)?)"
    r"\.(?P<size>medium|large|xlarge|[1-9][0-9]*xlarge)",
    re.ASCII,
)
INSTANCE_TYPE_PATTERN = INSTANCE_TYPE.pattern
BURSTABLE_SERIES = "t"
# The `d` option marks local instance storage in EC2 names (c5d, g4dn, p4de, r7gd); these
# families have NVMe instance storage without it (Amazon EC2 instance store documentation).
NVME_FAMILIES = ("g5", "g6", "g6e", "p5", "p5e", "p5en", "p6-b200", "p6-b300", "trn1", "trn1n", "trn2", "inf2", "dl1")


@dataclass(frozen=True)
class InstanceType:
    """One parsed `ml.*` instance type."""

    family: str
    series: str
    options: str

    @property
    def burstable(self) -> bool:
        return self.series == BURSTABLE_SERIES

    @property
    def nvme(self) -> bool:
        """Local NVMe instance storage, which SageMaker encrypts with a hardware key of its own."""
        return "d" in self.options or self.family in NVME_FAMILIES


def parse(value: object) -> InstanceType | None:
    """The parsed instance type, or None when `value` is not an `ml.*` instance type name."""
    match = INSTANCE_TYPE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    return InstanceType(match["family"], match["series"], match["options"])


def is_burstable(value: object) -> bool:
    parsed = parse(value)
    return parsed is not None and parsed.burstable


def has_nvme(value: object) -> bool:
    parsed = parse(value)
    return parsed is not None and parsed.nvme
