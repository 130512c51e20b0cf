"""Least-privilege IAM for roles this project defines, and the zones of the lake they use.

CDK's `grant_*` helpers add wildcard action families (`s3:GetObject*`, `kms:ReEncrypt*`)
to an inline default policy, which the compliance packs flag on every role. These helpers
grant the exact actions instead, in one customer-managed policy per role, scoped to the
resource. The only wildcard left is the object ARN of a bucket (`bucket/prefix*`), which
object-level actions require; it is acknowledged on the policy with the bucket it names.

A role gets a lake zone with :func:`allow_zone`: the S3 actions of its access level on a
prefix, and exactly the key actions that level needs, only when S3 calls KMS for that
bucket (`kms:ViaService` and the `aws:s3:arn` encryption context).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.compliance import acknowledge
from stacks.keys import service_endpoint

S3_READ = ["s3:GetObject", "s3:GetObjectVersion"]
S3_PUT = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
S3_DELETE = ["s3:DeleteObject"]
S3_LIST = ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
KMS_DECRYPT = ["kms:Decrypt", "kms:DescribeKey"]
KMS_ENCRYPT = ["kms:Encrypt", "kms:GenerateDataKey"]

# What a role may do with the objects of a zone: read them, only add new ones (a writer
# such as Firehose or data capture), add to what it reads, or also replace and delete them.
Access = Literal["read", "put", "read-put", "read-write"]
S3_ACTIONS: dict[str, list[str]] = {
    "read": S3_READ,
    "put": S3_PUT,
    "read-put": S3_READ + S3_PUT,
    "read-write": S3_READ + S3_PUT + S3_DELETE,
}
# SSE-KMS through S3: writing generates a data key (SageMaker documents kms:Encrypt too),
# reading decrypts it. A multipart upload also decrypts: S3 reads the encrypted parts to
# complete it, so writers of large objects get kms:Decrypt, only through S3 and only for
# this bucket, which without s3:GetObject cannot read anything (see allow_zone).
KMS_ACTIONS: dict[str, list[str]] = {
    "read": ["kms:Decrypt"],
    "put": ["kms:GenerateDataKey", "kms:Encrypt"],
    "read-put": ["kms:Decrypt", "kms:GenerateDataKey"],
    "read-write": ["kms:Decrypt", "kms:GenerateDataKey"],
}


@dataclass(frozen=True)
class Zone:
    """One storage zone of the lake: its bucket, the key only its users may use, and (for
    zones that Lake Formation governs) its Glue database. Built by the data lake stack;
    other stacks take it through :func:`import_zone`."""

    name: str
    bucket: s3.IBucket
    key: kms.IKey
    database: str | None = None


def role_policy(scope: Construct, construct_id: str, role: iam.IRole, *, description: str) -> iam.ManagedPolicy:
    """The customer-managed policy that holds every permission of `role`."""
    return iam.ManagedPolicy(scope, construct_id, roles=[role], description=description)


def finding_id(scope: Construct, value: str) -> str:
    """Render a (tokenised) ARN the way cdk-nag names it in an IAM5 finding.

    `Ref X` becomes `<X>`, `Fn::GetAtt X.Arn` becomes `<X.Arn>`, imports become
    `<ExportName>` and joins are concatenated, so acknowledgements stay exact.
    """

    def render(node: object) -> str:
        if isinstance(node, str):
            return node
        if isinstance(node, dict) and len(node) == 1:
            ((fn, arg),) = node.items()
            if fn == "Ref":
                return f"<{arg}>"
            if fn == "Fn::GetAtt":
                return f"<{'.'.join(arg)}>"
            if fn == "Fn::Join":
                return str(arg[0]).join(render(part) for part in arg[1])
            if fn == "Fn::ImportValue":
                return render(arg)
        raise ValueError(f"cannot render {node!r} as a cdk-nag finding")

    return render(cdk.Stack.of(scope).resolve(value))


def import_bucket(scope: Construct, construct_id: str, bucket: s3.IBucket) -> s3.IBucket:
    """Use a bucket of another stack through named exports.

    With explicit imports the bucket ARN is known when the consumer is built, so the
    IAM5 acknowledgement of its object ARN can name the exact finding.
    """
    producer, consumer = cdk.Stack.of(bucket), cdk.Stack.of(scope)
    if producer is consumer:
        return bucket
    # Named imports are plain strings to CDK, so the deploy order must be stated.
    consumer.add_dependency(producer, "imports bucket exports")
    base = "-".join([producer.stack_name, *bucket.node.path.split("/")[1:]])
    return s3.Bucket.from_bucket_attributes(
        scope,
        construct_id,
        bucket_arn=_export(producer, bucket.bucket_arn, f"{base}Arn"),
        bucket_name=_export(producer, bucket.bucket_name, f"{base}Name"),
    )


def _export(producer: cdk.Stack, value: str, name: str) -> str:
    """Export `value` from `producer` once, however many stacks import it."""
    if producer.node.try_find_child(f"Export{name}") is None:
        producer.export_value(value, name=name)
    return cdk.Fn.import_value(name)


def in_vpc(vpc_arn: str, *actions: str) -> iam.PolicyStatement:
    """Network-interface `actions` on resources of one VPC only (`ec2:Vpc`): services that
    create interfaces with generated IDs (Lambda, SageMaker) need `*` as the resource."""
    return iam.PolicyStatement(actions=list(actions), resources=["*"], conditions={"ArnEquals": {"ec2:Vpc": vpc_arn}})


def import_zone(scope: Construct, zone: Zone) -> Zone:
    """`zone` as another stack uses it: its bucket through named exports (see import_bucket)."""
    construct_id = f"{zone.name.capitalize()}Zone"
    return replace(zone, bucket=import_bucket(scope, construct_id, zone.bucket))


def allow_zone(
    policy: iam.ManagedPolicy, zone: Zone, *, access: Access, prefix: str = "", multipart: bool = False
) -> None:
    """`access` to the objects under `prefix` of a zone and its key, the key only through S3.

    `multipart` is for writers of objects large enough for multipart uploads (Firehose):
    S3 needs the writer's kms:Decrypt to complete them.
    """
    allow_bucket(policy, zone.bucket, access=access, prefix=prefix)
    allow_key_via_s3(policy, zone.key, zone.bucket, access=access, multipart=multipart)


def allow_key_via_s3(
    policy: iam.ManagedPolicy, key: kms.IKey, bucket: s3.IBucket, *, access: Access, multipart: bool = False
) -> None:
    """The key actions `access` needs, only when S3 calls KMS for objects of `bucket`.

    With S3 Bucket Keys the encryption context is the bucket ARN (objects written before
    bucket keys were enabled carry their object ARN), so both are allowed.
    """
    actions = KMS_ACTIONS[access] + (["kms:Decrypt"] if multipart and "kms:Decrypt" not in KMS_ACTIONS[access] else [])
    policy.add_statements(
        iam.PolicyStatement(
            actions=actions,
            resources=[key.key_arn],
            conditions={
                "StringEquals": {"kms:ViaService": service_endpoint(policy, "s3")},
                "ArnLike": {"kms:EncryptionContext:aws:s3:arn": [bucket.bucket_arn, bucket.arn_for_objects("*")]},
            },
        )
    )


def allow_bucket(policy: iam.ManagedPolicy, bucket: s3.IBucket, *, access: Access = "read", prefix: str = "") -> None:
    """`access` to the objects under `prefix` of `bucket`, and listing it."""
    objects = bucket.arn_for_objects(f"{prefix}*")
    policy.add_statements(
        iam.PolicyStatement(actions=S3_ACTIONS[access], resources=[objects]),
        iam.PolicyStatement(actions=S3_LIST, resources=[bucket.bucket_arn]),
    )
    acknowledge(
        policy,
        f"AwsSolutions-IAM5[Resource::{finding_id(policy, objects)}]",
        f"Object-level S3 actions need an object ARN pattern; this one is limited to the prefix '{prefix or '(all)'}' "
        f"of bucket {bucket.node.path} and to the actions the role's job requires",
    )


def allow_key(policy: iam.ManagedPolicy, key: kms.IKey, *, encrypt: bool = False, via: str | None = None) -> None:
    """Use `key` to decrypt (and optionally encrypt / generate data keys), only through the
    AWS service `via` (for example `glue`) when given."""
    policy.add_statements(
        iam.PolicyStatement(
            actions=KMS_DECRYPT + (KMS_ENCRYPT if encrypt else []),
            resources=[key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": service_endpoint(policy, via)}} if via else None,
        )
    )
