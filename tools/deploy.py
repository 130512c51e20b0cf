"""Deploy and destroy a stage after checking its prerequisites; estimate its idle cost.

``python -m tools.deploy check   --stage S``          the prerequisite checks only
``python -m tools.deploy deploy  --stage S``          checks, synth, ``cdk deploy --all``
``python -m tools.deploy destroy --stage S [--confirm S]``
``python -m tools.deploy cost    [ASSEMBLY]``         idle cost table of a synthesized stage

The checks (`tools.prerequisites`), in order, each failing with what to run to fix it:
credentials, CDK bootstrap, the CDK execution role as Lake Formation administrator, and
the SageMaker endpoint and training quotas.

Deploy synthesizes the stage into ``cdk.out`` and deploys that assembly, so what was checked
is what is deployed; ``cdk deploy --all`` orders the stacks by their dependencies. Destroy
removes everything in sandbox stages, deleting the registered model package versions first
(SageMaker deletes no model package group that still holds one). Other stages keep their stateful resources (retained
buckets and keys) and have termination protection on: destroy refuses them unless
``--confirm`` repeats the stage name, and then turns termination protection off first
(`tools.retained`).

Exit codes: 0 done, 1 a check or the CDK CLI failed, 2 bad input or refused.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacks.config import ConfigError
from tools.cdk_cli import ASSEMBLY, Runner, cdk_deploy, cdk_destroy, cdk_synth, run
from tools.idle_cost import cost_table, idle_cost
from tools.prerequisites import (
    DEFAULT_BOOTSTRAP_VERSION,
    Prerequisites,
    failed,
    identity_checks,
    render_checks,
    required_bootstrap_version,
    run_checks,
)
from tools.retained import (
    StageStacks,
    after_destroy_notes,
    delete_model_packages,
    deleted_package_groups,
    refusal,
    retained_resources,
)
from tools.stage import add_stage_arguments, prepare_stage
from tools.synth_summary import stacks_of


def command_check(args: argparse.Namespace, *, deps: Deps) -> int:
    stage, region, session = prepare_stage(args)
    prerequisites = deps.prerequisites(session, region)
    checks = run_checks(prerequisites, stage, required_version=required_bootstrap_version(args.assembly))
    print(render_checks(stage, region, checks))
    return 1 if failed(checks) else 0


def command_deploy(args: argparse.Namespace, *, deps: Deps) -> int:
    stage, region, session = prepare_stage(args)
    prerequisites = deps.prerequisites(session, region)
    check, identity = prerequisites.credentials(stage.account)
    if identity is None:
        print(render_checks(stage, region, [check]), file=sys.stderr)
        return 1
    print(f"Synthesizing stage {stage.name} into {args.assembly} ...", flush=True)
    if deps.run(cdk_synth(stage, args.assembly)) != 0:
        print("error: cdk synth failed; nothing was deployed", file=sys.stderr)
        return 1
    checks = [check]
    if not args.skip_checks:
        checks += identity_checks(
            prerequisites, identity, stage, required_version=required_bootstrap_version(args.assembly)
        )
    print(render_checks(stage, region, checks), flush=True)
    if failed(checks):
        print("error: prerequisites not met; nothing was deployed", file=sys.stderr)
        return 1
    command = cdk_deploy(stage, args.assembly)
    print("Deploying: " + " ".join(command), flush=True)
    if deps.run(command) != 0:
        print("error: cdk deploy failed; see docs/deploy.md#troubleshooting", file=sys.stderr)
        return 1
    print(f"Stage {stage.name} deployed. Next: make smoke STAGE={stage.name}")
    return 0


def command_destroy(args: argparse.Namespace, *, deps: Deps) -> int:
    stage, region, session = prepare_stage(args)
    if not stage.sandbox and args.confirm != stage.name:
        print(refusal(stage, args.assembly), file=sys.stderr)
        return 2
    prerequisites = deps.prerequisites(session, region)
    check, identity = prerequisites.credentials(stage.account)
    checks = [check]
    if identity is not None:
        checks += identity_checks(
            prerequisites, identity, stage, required_version=DEFAULT_BOOTSTRAP_VERSION, include=["bootstrap"]
        )
    print(render_checks(stage, region, checks), flush=True)
    if failed(checks):
        return 1
    if deps.run(cdk_synth(stage, args.assembly)) != 0:
        print("error: cdk synth failed; nothing was destroyed", file=sys.stderr)
        return 1
    stacks = StageStacks(deps.cloudformation(session, region), [s["name"] for s in stacks_of(args.assembly)])
    retained = stacks.physical_ids(retained_resources(args.assembly))
    if not stage.sandbox:
        for name in stacks.disable_termination_protection():
            print(f"termination protection off: {name}", flush=True)
    sagemaker = deps.sagemaker(session, region)
    for group in deleted_package_groups(args.assembly):
        count = delete_model_packages(sagemaker, group)
        print(f"deleted {count} model package version(s) of {group}, so its stack can delete the group", flush=True)
    if deps.run(cdk_destroy(args.assembly)) != 0:
        print("error: cdk destroy failed; see docs/deploy.md#troubleshooting", file=sys.stderr)
        return 1
    print(after_destroy_notes(stage, region, retained))
    return 0


def command_cost(args: argparse.Namespace, *, deps: Deps) -> int:
    if not (args.assembly / "manifest.json").is_file():
        print(f"error: {args.assembly} is not a cloud assembly; run `make synth` first", file=sys.stderr)
        return 2
    print(cost_table(idle_cost(args.assembly)))
    return 0


@dataclass
class Deps:
    """What the commands reach outside the process; tests replace it."""

    run: Runner = run
    prerequisites: Callable[[Any, str], Prerequisites] = Prerequisites.from_session
    cloudformation: Callable[[Any, str], Any] = lambda session, region: session.client(
        "cloudformation", region_name=region
    )
    sagemaker: Callable[[Any, str], Any] = lambda session, region: session.client("sagemaker", region_name=region)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.deploy", description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("check", "run the prerequisite checks only"),
        ("deploy", "check, synthesize and deploy every stack of the stage"),
        ("destroy", "destroy every stack of the stage"),
    ):
        sub = commands.add_parser(name, help=help_text)
        add_stage_arguments(sub)
        sub.add_argument("--assembly", type=Path, default=ASSEMBLY, help="cloud assembly directory (default cdk.out)")
        if name == "deploy":
            sub.add_argument("--skip-checks", action="store_true", help="deploy without the prerequisite checks")
        if name == "destroy":
            sub.add_argument("--confirm", default="", help="the stage name again, required outside sandbox stages")
    cost = commands.add_parser("cost", help="idle cost table of a synthesized assembly")
    cost.add_argument("assembly", nargs="?", type=Path, default=ASSEMBLY)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, *, deps: Deps | None = None) -> int:
    args = parse_args(argv)
    deps = deps or Deps()
    handlers = {"check": command_check, "deploy": command_deploy, "destroy": command_destroy, "cost": command_cost}
    try:
        return handlers[args.command](args, deps=deps)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
