#!/usr/bin/env python3
"""CDK entry point: reads the stage, builds typed config, wires stacks, adds compliance checks.

This is the only module that reads CDK context or the environment. A bad stage setting
exits non-zero with one message naming the key, the value and what is allowed.
"""

from __future__ import annotations

import os
import sys

import aws_cdk as cdk

from stacks.compliance import BUILTIN_TEMPLATE_VALIDATION, add_compliance_packs
from stacks.config import ConfigError, load_stage
from stacks.pipeline import build_pipeline

DEFAULT_STAGE = "sandbox"


def main() -> int:
    app = cdk.App(builtin_cloud_formation_validation=BUILTIN_TEMPLATE_VALIDATION)
    stage = app.node.try_get_context("stage") or DEFAULT_STAGE
    try:
        config = load_stage(
            app.node.try_get_context("stages"),
            stage,
            account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
            region=os.environ.get("CDK_DEFAULT_REGION"),
        )
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    build_pipeline(app, config)
    add_compliance_packs(app, guard=app.node.try_get_context("cfn-guard") in (True, "true"))
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
