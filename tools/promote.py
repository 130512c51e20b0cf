"""Promote an Approved model package of a stage's group to its endpoint, as a reviewed change.

``python -m tools.promote --stage S``                          (``make promote STAGE=S``)
``python -m tools.promote --stage S --package ARN [--variant V] [--dry-run]``

1. checks the credentials (for the stage's account if it pins one) and refuses without them;
2. lists the Approved packages of the stage's model package group, newest first, with the
   validation RMSE and the event contract each was trained against, beside what each variant
   serves now (pinned in cdk.json, and running on the endpoint);
3. with ``--package``: refuses a package that is not a version of the group, is not
   Approved, or records another contract version or hash than ``contracts/housing_event.json``
   has now (the predict function would encode features the model was not trained on);
   ``--variant`` names the variant of an A/B pair to promote (required with several);
4. pins the package in the stage's block of cdk.json, and only there, with the drift baseline
   of the ETL run it was trained on (``baseline_url``: the drift monitor compares the variant's
   traffic with it; ``--baseline-url`` names it for a package trained by hand), and shows the diff;
5. synthesizes the stage (every compliance pack) and runs the deploy-readiness rules, then
   checks the deploy prerequisites of the update (CDK bootstrap, the endpoint quota: both
   fleets under blue/green, the fleet and a batch under a rolling update);
6. deploys only the Inference stack (``cdk deploy MlPipeline-<stage>-Inference
   --exclusively``): the endpoint's deployment guardrails shift traffic to the new model
   and roll it back when a rollback alarm fires.

A failure at 5 or 6 restores cdk.json, so it keeps describing what is deployed; after a
promotion, commit cdk.json and run ``make smoke``. ``--dry-run`` stops after the checks of 5,
prints the deploy command and restores cdk.json.

Exit codes: 0 promoted, listed or dry run passed; 1 synth, readiness, a prerequisite or the
deploy failed; 2 refused (bad input, no credentials, a package that may not be promoted).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from contracts import model_package as metadata_keys
from contracts.drift import STATISTICS_PREFIX, run_baseline
from readiness import Finding, Status, check_assembly
from readiness.report import summary, violations
from stacks.config import ConfigError, StageConfig
from stacks.model_source import model_source, parse_package_arn
from stacks.names import endpoint_name, model_package_group_name, stack_name
from tools import cdk_json
from tools.cdk_cli import ASSEMBLY, Runner, cdk_deploy, cdk_synth, run
from tools.endpoint_state import LiveEndpoint, live_endpoint
from tools.prerequisites import (
    Identity,
    Prerequisites,
    failed,
    render_checks,
    required_bootstrap_version,
)
from tools.stage import CDK_JSON, add_stage_arguments, load_stage_config, session, stage_region

APPROVED = "Approved"
LISTED = 20  # newest Approved packages shown


class Refused(Exception):
    """The promotion may not go ahead; the message says why and what to do instead."""


@dataclass(frozen=True)
class Package:
    """One model package version, as the promotion judges it."""

    arn: str
    group: str
    version: int | None
    status: str
    created: datetime | None
    metadata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_description(cls, described: dict[str, Any]) -> Package:
        return cls(
            arn=str(described["ModelPackageArn"]),
            group=str(described.get("ModelPackageGroupName", "")),
            version=described.get("ModelPackageVersion"),
            status=str(described.get("ModelApprovalStatus", "")),
            created=described.get("CreationTime"),
            metadata=dict(described.get("CustomerMetadataProperties") or {}),
        )

    @property
    def validation_rmse(self) -> str:
        return self.metadata.get(metadata_keys.VALIDATION_RMSE, "-")

    @property
    def contract_problem(self) -> str | None:
        return metadata_keys.contract_mismatch(self.metadata)

    def contract(self) -> str:
        recorded = f"v{self.metadata.get(metadata_keys.CONTRACT_VERSION, '?')}"
        return f"{recorded} matches" if self.contract_problem is None else f"{recorded} differs"


def approved_packages(sagemaker: Any, group: str) -> list[Package]:
    """The group's Approved packages, newest first (at most LISTED of them)."""
    summaries: list[dict[str, Any]] = []
    pages = sagemaker.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=group, ModelApprovalStatus=APPROVED, SortBy="CreationTime", SortOrder="Descending"
    )
    for page in pages:
        summaries += page.get("ModelPackageSummaryList", [])
        if len(summaries) >= LISTED:
            break
    return [
        Package.from_description(sagemaker.describe_model_package(ModelPackageName=s["ModelPackageArn"]))
        for s in summaries[:LISTED]
    ]


def describe_package(sagemaker: Any, arn: str) -> Package:
    from botocore.exceptions import ClientError

    try:
        return Package.from_description(sagemaker.describe_model_package(ModelPackageName=arn))
    except ClientError as error:
        raise Refused(f"cannot read model package {arn}: {error}") from None


def refusal(package: Package, group: str) -> str | None:
    """Why `package` may not serve the stage's endpoint, or None."""
    if package.group != group:
        return f"{package.arn} is a package of group {package.group or '(none)'}, not of the stage's group {group}"
    if package.status != APPROVED:
        return (
            f"{package.arn} is {package.status or 'without approval status'}, not Approved: review it and approve it "
            "first (docs/training.md, 'Approving a package')"
        )
    problem = package.contract_problem
    if problem:
        return (
            f"{package.arn} was trained against another event contract ({problem}): the predict function encodes "
            "features with the current contract, so the model would score features it was not trained on; train "
            "a new model (make train)"
        )
    return None


def baseline_of(package: Package) -> str | None:
    """The drift baseline the ETL run of the package's training data kept, or None for a run
    started by hand (it trained on whatever the latest ETL run left)."""
    run = package.metadata.get(metadata_keys.ETL_RUN)
    training = package.metadata.get(metadata_keys.TRAINING_DATA, "")
    if not run or run == metadata_keys.MANUAL_RUN or not training.startswith("s3://"):
        return None
    bucket = training.removeprefix("s3://").split("/", 1)[0]
    return run_baseline(f"s3://{bucket}/{STATISTICS_PREFIX}", run)


def baseline_for(stage: StageConfig, variant: str, package: Package, requested: str | None) -> str | None:
    """The baseline_url to pin with the package: the one named, else its ETL run's; a variant the
    drift monitor watches must have one."""
    baseline = requested or baseline_of(package)
    monitored = {v.name for v in stage.monitoring.monitored(stage.inference)}
    if baseline is None and variant in monitored:
        run = package.metadata.get(metadata_keys.ETL_RUN, "not recorded")
        raise Refused(
            f"variant {variant} is monitored for drift, and {package.arn} was trained by hand (etl_run {run}), so "
            "no ETL run names its baseline: name it with BASELINE=s3://<curated zone>/statistics/runs/<run>/"
            "drift_baseline.json (the run in the provenance of statistics/drift_baseline.json when it was trained; "
            "docs/drift.md)"
        )
    return baseline


def choose_variant(stage: StageConfig, requested: str | None) -> str:
    names = [v.name for v in stage.inference.variants]
    if requested is None:
        if len(names) > 1:
            raise Refused(f"stage {stage.name} has variants {names}: choose one with --variant (VARIANT=...)")
        return names[0]
    if requested not in names:
        raise Refused(f"stage {stage.name} has no variant {requested!r}; its variants are {names}")
    return requested


def render_listing(stage: StageConfig, packages: Sequence[Package], live: LiveEndpoint | None) -> str:
    group = model_package_group_name(stage.name)
    lines = [f"Stage {stage.name}: endpoint {endpoint_name(stage.name)}, model package group {group}", "Variants now:"]
    for variant in stage.inference.variants:
        running = live.describe(variant.name) if live else "(endpoint not deployed)"
        lines.append(f"  {variant.name}: cdk.json pins {model_source(variant)}; the endpoint runs {running}")
    if live is not None and live.status != "InService":
        lines.append(f"  endpoint status {live.status}{': ' + live.failure if live.failure else ''}")
    lines.append(f"Approved packages of {group}, newest first:" if packages else f"No Approved package in {group}.")
    serving = {model_source(v).location: v.name for v in stage.inference.variants}
    for package in packages:
        created = f"{package.created:%Y-%m-%d %H:%M}" if package.created else "-"
        pinned = f"  <- {serving[package.arn]}" if package.arn in serving else ""
        lines.append(
            f"  version {package.version}  {created}  validation RMSE {package.validation_rmse}  "
            f"contract {package.contract()}  {package.arn}{pinned}"
        )
    return "\n".join(lines)


@dataclass
class Deps:
    """What the promotion reaches outside the process; tests replace it."""

    run: Runner = run
    prerequisites: Callable[[Any, str], Prerequisites] = Prerequisites.from_session
    sagemaker: Callable[[Any, str], Any] = lambda aws, region: aws.client("sagemaker", region_name=region)
    readiness: Callable[[Path], list[Finding]] = check_assembly
    session: Callable[[str | None], Any] = session
    cdk_json: Path = CDK_JSON


@dataclass
class Promotion:
    """One promotion of `package` to `variant`: edits cdk.json, gates, deploys; restores cdk.json on failure."""

    stage: StageConfig
    region: str
    variant: str
    package: Package
    baseline_url: str | None
    identity: Identity
    prerequisites: Prerequisites
    deps: Deps
    assembly: Path
    original: str = ""

    def run(self, *, dry_run: bool) -> int:
        path = self.deps.cdk_json
        self.original = path.read_text(encoding="utf-8")
        edited = cdk_json.pin_model_package(
            self.original,
            stage=self.stage.name,
            variant=self.variant,
            arn=self.package.arn,
            baseline_url=self.baseline_url,
        )
        if edited == self.original:
            print(f"cdk.json already pins {self.package.arn} for variant {self.variant}; nothing to promote")
            print(f"(make deploy STAGE={self.stage.name} deploys the stage as cdk.json describes it)")
            return 0
        print(f"Promoting {self.package.arn} to variant {self.variant} of stage {self.stage.name}:")
        print(cdk_json.unified_diff(self.original, edited), flush=True)
        path.write_text(edited, encoding="utf-8")
        try:
            code = self._gate_and_deploy(dry_run=dry_run)
        except BaseException:
            self._restore()
            raise
        if code != 0 or dry_run:
            self._restore()
        return code

    def _restore(self) -> None:
        self.deps.cdk_json.write_text(self.original, encoding="utf-8")
        print("cdk.json restored: it still describes what is deployed", file=sys.stderr)

    def _gate_and_deploy(self, *, dry_run: bool) -> int:
        try:
            stage = load_stage_config(self.stage.name, region=self.region, cdk_json=self.deps.cdk_json)
        except ConfigError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"Synthesizing stage {stage.name} into {self.assembly} ...", flush=True)
        if self.deps.run(cdk_synth(stage, self.assembly)) != 0:
            print("error: cdk synth failed (see the compliance findings above); nothing was deployed", file=sys.stderr)
            return 1
        findings = self.deps.readiness(self.assembly)
        print(f"Deploy readiness of {self.assembly}:")
        print(summary(findings), flush=True)
        if any(f.status is Status.NON_COMPLIANT for f in findings):
            print(violations(findings), file=sys.stderr)
            print("error: the deploy-readiness gate failed; nothing was deployed", file=sys.stderr)
            return 1
        checks = [
            *self.prerequisites.bootstrap(self.identity, required_bootstrap_version(self.assembly)),
            *self.prerequisites.endpoint_quota(stage),
        ]
        print(render_checks(stage, self.region, checks), flush=True)
        if failed(checks):
            print("error: prerequisites not met; nothing was deployed", file=sys.stderr)
            return 1
        command = cdk_deploy(stage, self.assembly, stacks=[stack_name(stage.name, "Inference")])
        if dry_run:
            print("Dry run: the gate passed; a promotion would now run: " + " ".join(command))
            return 0
        print("Deploying: " + " ".join(command), flush=True)
        if self.deps.run(command) != 0:
            print(
                "error: the Inference stack did not deploy (a rollback alarm or a failed update rolls the endpoint "
                "back to its previous fleet); see docs/deploy.md#promotion-and-rollback",
                file=sys.stderr,
            )
            return 1
        print(
            f"Variant {self.variant} of stage {stage.name} serves {self.package.arn}. Commit cdk.json, then check "
            f"the live endpoint: make smoke STAGE={stage.name}"
        )
        return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.promote", description=__doc__.split("\n", 1)[0])
    add_stage_arguments(parser)
    parser.add_argument("--package", help="ARN of the Approved model package version to promote (default: list them)")
    parser.add_argument("--variant", help="variant to promote (required when the stage has several)")
    parser.add_argument("--baseline-url", help="drift baseline of the package's training data (default: its ETL run's)")
    parser.add_argument("--dry-run", action="store_true", help="edit, synthesize and check; deploy nothing")
    parser.add_argument("--assembly", type=Path, default=ASSEMBLY, help="cloud assembly directory (default cdk.out)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, *, deps: Deps | None = None) -> int:
    args = parse_args(argv)
    deps = deps or Deps()
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        aws = deps.session(args.profile)
        stage = load_stage_config(args.stage, region=args.region or aws.region_name, cdk_json=deps.cdk_json)
        region = stage_region(stage, args.region or aws.region_name)
        if args.package is not None and parse_package_arn(args.package) is None:
            raise Refused(f"--package {args.package!r} is not a versioned model package ARN")
        variant = choose_variant(stage, args.variant) if args.package is not None else ""
        prerequisites = deps.prerequisites(aws, region)
        check, identity = prerequisites.credentials(stage.account)
        if identity is None:
            print(render_checks(stage, region, [check]), file=sys.stderr)
            print(
                "error: a promotion needs AWS credentials for the stage's account; nothing was changed", file=sys.stderr
            )
            return 2
        sagemaker = deps.sagemaker(aws, region)
        group = model_package_group_name(stage.name)
        print(
            render_listing(
                stage, approved_packages(sagemaker, group), live_endpoint(sagemaker, endpoint_name(stage.name))
            )
        )
        if args.package is None:
            print(f"Promote one with: make promote STAGE={stage.name} PACKAGE=<ARN>")
            return 0
        package = describe_package(sagemaker, args.package)
        reason = refusal(package, group)
        if reason:
            raise Refused(reason)
        baseline = baseline_for(stage, variant, package, args.baseline_url)
        promotion = Promotion(stage, region, variant, package, baseline, identity, prerequisites, deps, args.assembly)
        return promotion.run(dry_run=args.dry_run)
    except (ConfigError, Refused) as error:
        print(
            f"error: {error}; nothing was changed" if isinstance(error, Refused) else f"error: {error}", file=sys.stderr
        )
        return 2
    except (BotoCoreError, ClientError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
