"""The CDK CLI commands the deploy and promotion tools run, with the pinned CLI from node_modules.

A tool synthesizes the stage into an assembly directory and then deploys or destroys
that assembly (``--app <dir>``), so what was checked is exactly what is deployed.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from stacks.config import StageConfig
from tools.stage import ROOT

ASSEMBLY = Path("cdk.out")
CDK = ["npx", "--no-install", "cdk"]

Runner = Callable[[list[str]], int]


def cdk_synth(stage: StageConfig, assembly: Path) -> list[str]:
    return [*CDK, "synth", "--quiet", "-c", f"stage={stage.name}", "--output", str(assembly)]


def cdk_deploy(stage: StageConfig, assembly: Path, stacks: Sequence[str] = ()) -> list[str]:
    """Deploy every stack of the assembly, or exactly `stacks` (not the stacks they depend on).

    Outside sandbox stages IAM and security group changes wait for a yes.
    """
    approval = "never" if stage.sandbox else "broadening"
    selection = [*stacks, "--exclusively"] if stacks else ["--all"]
    return [*CDK, "deploy", *selection, "--app", str(assembly), "--require-approval", approval]


def cdk_destroy(assembly: Path) -> list[str]:
    return [*CDK, "destroy", "--all", "--app", str(assembly), "--force"]


def run(command: list[str]) -> int:
    """Run `command` in the repository root; its exit code."""
    return subprocess.call(command, cwd=ROOT)
