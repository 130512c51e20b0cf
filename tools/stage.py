"""The stage a command-line tool works on: its validated config, its region and an AWS session.

Every tool that talks to a deployed stage (deploy, smoke, train, promote) takes
``--stage``, ``--region`` and ``--profile`` and starts here, so they all read the same
``cdk.json`` with the same rules as synth and use the profile for every call they make.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from stacks.config import ConfigError, StageConfig, load_stage

ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = ROOT / "cdk.json"


def load_stage_config(name: str, *, region: str | None = None, cdk_json: Path = CDK_JSON) -> StageConfig:
    context = json.loads(cdk_json.read_text(encoding="utf-8"))["context"]
    return load_stage(context["stages"], name, region=region)


def stage_region(stage: StageConfig, session_region: str | None) -> str:
    region = stage.region or session_region
    if not region:
        raise ConfigError("region", None, "set one in the stage (cdk.json) or with AWS_REGION / the profile")
    return region


def session(profile: str | None) -> Any:
    """A boto3 session of `profile`, else of the SDK's default configuration."""
    import boto3

    return boto3.Session(profile_name=profile) if profile else boto3.Session()


def add_stage_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", default="sandbox", help="stage name from cdk.json (default sandbox)")
    parser.add_argument("--region", help="region when the stage pins none (default: the profile's)")
    parser.add_argument("--profile", help="AWS profile (default: the SDK's configuration)")


def prepare_stage(args: argparse.Namespace) -> tuple[StageConfig, str, Any]:
    """The stage config, its region and a boto3 session from ``--stage``, ``--region``, ``--profile``."""
    aws = session(args.profile)
    stage = load_stage_config(args.stage, region=args.region or aws.region_name)
    region = stage_region(stage, args.region or aws.region_name)
    return stage, region, aws
