"""AWS regions and partitions, known offline from botocore's `partitions.json`.

Synth never calls AWS, so "is this a region" is answered by the partition data that
the pinned botocore ships: a new region becomes known by upgrading boto3 in
`requirements.txt`. The partition of a region decides which ARNs can work there.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import metadata, resources

REGION_PATTERN = r"[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}"


@lru_cache(maxsize=1)
def partitions() -> dict[str, str]:
    """Region -> partition id (`aws`, `aws-cn`, `aws-us-gov`, ...), without the global pseudo-regions."""
    document = json.loads(resources.files("botocore").joinpath("data", "partitions.json").read_text(encoding="utf-8"))
    return {
        region: partition["id"]
        for partition in document["partitions"]
        for region in partition["regions"]
        if not region.endswith("-global")
    }


def partition_of(region: str) -> str | None:
    return partitions().get(region)


def known_partitions() -> set[str]:
    return set(partitions().values())


def region_problem(region: str) -> str | None:
    """Why `region` cannot be used, or None for a region botocore knows."""
    if region in partitions():
        return None
    return (
        f"is not a region botocore {metadata.version('botocore')} knows; if it is a new AWS region, "
        "upgrade boto3 in requirements.txt (its botocore lists the regions)"
    )
