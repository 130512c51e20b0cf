"""Where a production variant's model comes from.

A variant serves one of three sources, chosen in the stage config:

- the bundled artifact (`model/model.tar.gz`, an S3 asset): the bootstrap model a first
  deploy serves before any training run has registered one;
- `model_data_url`: a model artifact in S3 the stage names directly;
- `model_package_arn`: a versioned package of the stage's model package group, which the
  training pipeline registered and a person approved; `make promote` pins its ARN in
  `cdk.json`, so synth never looks anything up in AWS.

The Inference stack builds each variant's model from :func:`model_source`; the stage
config validates package ARNs with :func:`parse_package_arn`; tools that need to know what
a variant serves (promotion, smoke, drift baselines) call the same functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from stacks.config import VariantConfig

# arn:<partition>:sagemaker:<region>:<account>:model-package/<group>/<version>; SageMaker
# writes the group name in lowercase in the ARNs of versioned packages.
PACKAGE_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):sagemaker:(?P<region>[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}):(?P<account>[0-9]{12}):"
    r"model-package/(?P<group>[a-z0-9](-*[a-z0-9]){0,62})/(?P<version>[1-9][0-9]{0,9})",
    re.ASCII,
)
PACKAGE_ARN_FORM = (
    "a versioned model package ARN arn:<partition>:sagemaker:<region>:<account>:model-package/<group>/<version>"
)

Kind = Literal["bundled", "model_data_url", "model_package"]


@dataclass(frozen=True)
class PackageArn:
    """The parts of a versioned model package ARN."""

    arn: str
    partition: str
    region: str
    account: str
    group: str
    version: int


def parse_package_arn(value: object) -> PackageArn | None:
    """The parts of a versioned model package ARN, or None when `value` is not one."""
    match = PACKAGE_ARN.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    return PackageArn(
        arn=match[0],
        partition=match["partition"],
        region=match["region"],
        account=match["account"],
        group=match["group"],
        version=int(match["version"]),
    )


@dataclass(frozen=True)
class ModelSource:
    """What a variant serves: `location` is the S3 URL or the package ARN (None for the bundled asset)."""

    kind: Kind
    location: str | None = None

    def __str__(self) -> str:
        if self.kind == "bundled":
            return "the bundled model (model/model.tar.gz)"
        return f"{'model package' if self.kind == 'model_package' else 'model artifact'} {self.location}"


def model_source(variant: VariantConfig) -> ModelSource:
    """The source a variant's model is built from (the config allows at most one of the two settings)."""
    if variant.model_package_arn is not None:
        return ModelSource("model_package", variant.model_package_arn)
    if variant.model_data_url is not None:
        return ModelSource("model_data_url", variant.model_data_url)
    return ModelSource("bundled")
