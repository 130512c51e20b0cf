"""The generated parts of docs/training.md: the flow diagram and the cost of one run.

``python -m tools.training_doc ASSEMBLY [ASSEMBLY ...] [--output docs/training.md] [--check]``
(`make training-doc` synthesizes every stage into build/gate/ and runs it on them)

Both come from the Training stack's state machine in synthesized cloud assemblies, so
they show what would be deployed: the diagram draws every state of the definition and
every transition (Next, Choice rules and their default, Catch), the cost table reads
the tuning job's limits and instance settings per stage. Each part sits between
`<!-- generated:NAME -->` and `<!-- /generated:NAME -->` in the document; the rest is
written by hand. `--check` fails when the committed document is stale.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from readiness.model import Assembly
from readiness.rules._stepfunctions import STATE_MACHINE, definition_of, states
from tools.generated import write_or_check
from tools.idle_cost import PRICE_REGION, PRICES_AS_OF, SAGEMAKER_TRAINING_HOUR

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "training.md"
REGENERATE = "make training-doc"
# Typical billed time of one training job on the pipeline's data: container start, download
# and a few hundred boosting rounds over thousands of rows (SageMaker bills per second).
TYPICAL_JOB_MINUTES = 3
STATE_TRANSITION_PRICE = 0.000025  # Standard workflows, per state transition
OPERATORS = {
    "BooleanEquals": "==",
    "StringEquals": "==",
    "NumericEquals": "==",
    "NumericLessThan": "<",
    "NumericLessThanEquals": "<=",
    "NumericGreaterThan": ">",
    "NumericGreaterThanEquals": ">=",
}
SHAPES = {"Choice": ('{"', '"}'), "Pass": ('("', '")'), "Succeed": ('(["', '"])'), "Fail": ('(["', '"])')}


def state_machine(assembly: Path) -> tuple[str, dict[str, Any]]:
    """(stage name, definition) of the Training stack of one assembly."""
    loaded = Assembly.load(assembly)
    for name, stack in loaded.stacks.items():
        for machine in stack.of_type(STATE_MACHINE):
            definition = definition_of(machine)
            if name.endswith("-Training") and definition is not None:
                return name.split("-")[1], definition
    raise ValueError(f"{assembly} has no Training stack with a readable state machine; synthesize a stage first")


def node(name: str, index: dict[str, str]) -> str:
    return index.setdefault(name, f"s{len(index)}")


def label(name: str, state: dict[str, Any]) -> str:
    text = name
    resource = str(state.get("Resource", ""))
    if resource:
        text += "<br/>" + resource.split(":::", 1)[-1]
    return text.replace('"', "#quot;")


def condition(rule: dict[str, Any]) -> str:
    """A Choice rule as a short arrow label."""
    variable = rule.get("Variable", "")
    if "IsPresent" in rule:
        return f"{variable} present" if rule["IsPresent"] else f"{variable} absent"
    for key, value in rule.items():
        if key not in ("Variable", "Next"):
            shown = str(value).lower() if isinstance(value, bool) else value
            return f"{variable} {OPERATORS.get(key, key)} {shown}"
    return "rule"


def transitions(state: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(target, label) of every way out of a state."""
    for rule in state.get("Choices", []):
        yield rule["Next"], condition(rule)
    if "Default" in state:
        yield state["Default"], "otherwise"
    if "Next" in state:
        yield state["Next"], ""
    for catch in state.get("Catch", []):
        yield catch["Next"], "catch " + ", ".join(catch.get("ErrorEquals", []))


def render_flow(definition: dict[str, Any]) -> str:
    """The state machine as a Mermaid flowchart."""
    index: dict[str, str] = {}
    lines = ["```mermaid", "flowchart TD", "    start((start))"]
    for name, state in states(definition):
        opening, closing = SHAPES.get(str(state.get("Type")), ('["', '"]'))
        lines.append(f"    {node(name, index)}{opening}{label(name, state)}{closing}")
    lines.append(f"    start --> {node(definition['StartAt'], index)}")
    for name, state in states(definition):
        for target, text in transitions(state):
            arrow = f'-->|"{text.replace(chr(34), "#quot;")}"|' if text else "-->"
            lines.append(f"    {node(name, index)} {arrow} {node(target, index)}")
    lines.append("```")
    return "\n".join(lines)


def tuning_settings(definition: dict[str, Any]) -> dict[str, Any]:
    for _, state in states(definition):
        parameters = state.get("Parameters") or {}
        if "HyperParameterTuningJobConfig" in parameters:
            limits = parameters["HyperParameterTuningJobConfig"]["ResourceLimits"]
            job = parameters["TrainingJobDefinition"]
            return {
                "jobs": int(limits["MaxNumberOfTrainingJobs"]),
                "parallel": int(limits["MaxParallelTrainingJobs"]),
                "instances": int(job["ResourceConfig"]["InstanceCount"]),
                "type": str(job["ResourceConfig"]["InstanceType"]),
                "max_minutes": int(job["StoppingCondition"]["MaxRuntimeInSeconds"]) // 60,
                "spot": bool(job.get("EnableManagedSpotTraining")),
            }
    raise ValueError("the state machine starts no hyperparameter tuning job")


def render_cost(stages: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """One row per stage: typical and worst-case training cost of one run at list prices."""
    rows = [
        f"| Stage | Training jobs | Instances | {PRICE_REGION} list price ({PRICES_AS_OF}) | Typical run "
        f"({TYPICAL_JOB_MINUTES} min per job) | At most (every job to its max runtime) | Notes |",
        "| --- | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for stage, definition in stages:
        s = tuning_settings(definition)
        price = SAGEMAKER_TRAINING_HOUR.get(s["type"])
        instance_hours = s["jobs"] * s["instances"] / 60
        transitions = len(list(states(definition))) * STATE_TRANSITION_PRICE
        if price is None:
            typical = most = "not in the price table"
        else:
            typical = f"${instance_hours * TYPICAL_JOB_MINUTES * price + transitions:.2f}"
            most = f"${instance_hours * s['max_minutes'] * price + transitions:.2f}"
        notes = f"{s['parallel']} at a time, {s['max_minutes']} min max runtime"
        if s["spot"]:
            notes += "; managed spot training, billed at the spot price (often 60-90% less)"
        rows.append(
            f"| {stage} | {s['jobs']} | {s['instances']} x {s['type']} | "
            f"{'-' if price is None else f'${price:.3f}/h'} | {typical} | {most} | {notes} |"
        )
    return "\n".join(rows)


def replace_section(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- generated:{name} -->\n)(?:.*?\n)?(<!-- /generated:{name} -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"the document has no <!-- generated:{name} --> section")
    return pattern.sub(lambda m: f"{m.group(1)}{body}\n{m.group(2)}", text)


def render(document: str, assemblies: Sequence[Path]) -> str:
    """`document` with its generated sections rebuilt from `assemblies`."""
    stages = sorted((state_machine(a) for a in assemblies), key=lambda stage: stage[0])
    text = replace_section(document, "training-flow", render_flow(stages[0][1]))
    return replace_section(text, "training-cost", render_cost(stages))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.training_doc", description=__doc__.split("\n", 1)[0])
    parser.add_argument("assemblies", nargs="+", type=Path, help="synthesized cloud assemblies (one per stage)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="fail when the document is stale")
    args = parser.parse_args(argv)
    try:
        text = render(args.output.read_text(encoding="utf-8"), args.assemblies)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return write_or_check(args.output, text, check=args.check, regenerate=REGENERATE)


if __name__ == "__main__":
    sys.exit(main())
