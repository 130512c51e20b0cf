"""Least-privilege IAM for roles this project defines.

CDK's `grant_*` helpers add wildcard action families (`s3:GetObject*`, `kms:ReEncrypt*`)
to an inline default policy, which the compliance packs flag on every role. These helpers
grant the exact actions instead, in one customer-managed policy per role, scoped to the
resource. The only wildcard left is the object ARN of a bucket (`bucket/prefix*`), which
object-level actions require; it is acknowledged on the policy with the bucket it names.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.compliance import acknowledge

S3_READ = ["s3:GetObject", "s3:GetObjectVersion"]
S3_WRITE = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
S3_LIST = ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
KMS_DECRYPT = ["kms:Decrypt", "kms:DescribeKey"]
KMS_ENCRYPT = ["kms:Encrypt", "kms:GenerateDataKey"]


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
    base = f"{producer.stack_name}-{bucket.node.id}"
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


def allow_bucket(policy: iam.ManagedPolicy, bucket: s3.IBucket, *, write: bool = False, prefix: str = "") -> None:
    """Read (and optionally write) objects under `prefix` of `bucket`, and list it."""
    objects = bucket.arn_for_objects(f"{prefix}*")
    policy.add_statements(
        iam.PolicyStatement(actions=S3_READ + (S3_WRITE if write else []), resources=[objects]),
        iam.PolicyStatement(actions=S3_LIST, resources=[bucket.bucket_arn]),
    )
    acknowledge(
        policy,
        f"AwsSolutions-IAM5[Resource::{finding_id(policy, objects)}]",
        f"Object-level S3 actions need an object ARN pattern; this one is limited to the prefix '{prefix or '(all)'}' "
        f"of bucket {bucket.node.path} and to the actions the role's job requires",
    )


def allow_key(policy: iam.ManagedPolicy, key: kms.IKey, *, encrypt: bool = False) -> None:
    """Use `key` to decrypt (and optionally encrypt / generate data keys)."""
    policy.add_statements(
        iam.PolicyStatement(actions=KMS_DECRYPT + (KMS_ENCRYPT if encrypt else []), resources=[key.key_arn])
    )
