"""Full synth of a stage against the floor of an empty one-stack CDK app.

Both run through the same pinned CDK CLI and Python, alternating, several runs each, so
CLI start-up, jsii start-up and machine noise appear on both sides of the ratio.

Two floors: the empty app as `cdk init` makes it (CDK's defaults, which include the
built-in CloudFormation validator), which carries the target; and the same empty app with
that validator off, as this app runs (it leaves template validation to the gate's
cfn-lint). The second ratio is the like-for-like cost of this app's own constructs and
compliance packs, reported without a bar so that the first one cannot hide a regression.
A last series synthesizes with the cfn-guard plugin on (`-c cfn-guard=true`, what the gate
runs), to show what the Control Tower rules would cost every synth.
Run: `make bench` (or `python -m benchmarks.synth [--runs N] [--stage S]`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import median, write_section
from stacks.compliance import BUILTIN_TEMPLATE_VALIDATION

ROOT = Path(__file__).resolve().parent.parent
EMPTY_APP = "import aws_cdk as cdk\napp = cdk.App({options})\ncdk.Stack(app, 'Empty')\napp.synth()\n"
TARGET_RATIO = 2.0


def cdk_synth(workdir: Path, *args: str) -> float:
    env = {**os.environ, "PATH": f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{os.environ['PATH']}"}
    started = time.perf_counter()
    subprocess.run(
        [str(ROOT / "node_modules" / ".bin" / "cdk"), "synth", "--quiet", *args],
        cwd=workdir,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def empty_app(directory: Path, *, options: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "app.py").write_text(EMPTY_APP.format(options=options), encoding="utf-8")
    (directory / "cdk.json").write_text(json.dumps({"app": f"{sys.executable} app.py"}), encoding="utf-8")
    return directory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stage", default="sandbox")
    args = parser.parse_args()
    full: list[float] = []
    floor: list[float] = []
    bare: list[float] = []
    guarded: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        empty = empty_app(Path(tmp) / "default")
        unvalidated = empty_app(
            Path(tmp) / "unvalidated", options=f"builtin_cloud_formation_validation={BUILTIN_TEMPLATE_VALIDATION}"
        )
        stage = ("-c", f"stage={args.stage}", "-o", str(Path(tmp) / "full.out"))
        cdk_synth(empty)  # warm the CLI and file caches on both sides
        cdk_synth(ROOT, *stage)
        for _ in range(args.runs):
            floor.append(cdk_synth(empty))
            bare.append(cdk_synth(unvalidated))
            full.append(cdk_synth(ROOT, *stage))
            guarded.append(cdk_synth(ROOT, *stage, "-c", "cfn-guard=true"))
    ratio = median(full) / median(floor)
    like_for_like = median(full) / median(bare)
    guard_ratio = median(guarded) / median(floor)
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    body = (
        "## Synth: full app vs empty one-stack app\n\n"
        f"`make bench` - `npx cdk synth --quiet -c stage={args.stage}` (every stack, all five compliance packs) "
        f"against an empty one-stack app through the same CLI, {args.runs} alternating runs each. The app leaves "
        "template validation to the gate's cfn-lint (`stacks.compliance.BUILTIN_TEMPLATE_VALIDATION`). The target "
        "floor is the empty app as `cdk init` makes it, with CDK's built-in template validator (most of its time); "
        "the second floor turns that validator off as the app does, so its ratio is the app's own cost.\n\n"
        "| measurement | median seconds |\n| --- | --- |\n"
        f"| empty app, CDK defaults (floor) | {median(floor):.2f} |\n"
        f"| empty app, built-in validator off (like-for-like floor) | {median(bare):.2f} |\n"
        f"| full synth | {median(full):.2f} |\n"
        f"| full synth with the cfn-guard plugin (`-c cfn-guard=true`) | {median(guarded):.2f} |\n\n"
        f"**Ratio: {ratio:.2f}x** the floor ({verdict} the {TARGET_RATIO:.1f}x target); "
        f"{like_for_like:.2f}x the like-for-like floor (no bar). With the cfn-guard plugin {guard_ratio:.2f}x "
        "the floor: the Control Tower rules run in the gate, not on every synth."
    )
    write_section("synth", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
