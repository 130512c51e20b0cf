"""IAM policy analysis: what counts as a finding, an acknowledgement and a stale acknowledgement."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from readiness.linters import CLOUDSPLAINING_SCAN, checkov_python
from readiness.policy_analysis import evaluate, scan_input

WILDCARD_ROLE_POLICY = {
    "Type": "AWS::IAM::ManagedPolicy",
    "Properties": {
        "PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}],
        }
    },
}
SCOPED_POLICY = {
    "Type": "AWS::IAM::ManagedPolicy",
    "Properties": {
        "PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket", "Arn"]}, "/*"]]},
                }
            ],
        }
    },
}


def write_template(directory: Path, **resources: dict[str, object]) -> Path:
    path = directory / "Stack.template.json"
    path.write_text(json.dumps({"Resources": resources}), encoding="utf-8")
    return path


def test_documents_are_rendered_and_named_after_their_resource(tmp_path: Path) -> None:
    found, stdin = scan_input([write_template(tmp_path, Scoped=SCOPED_POLICY)])
    assert [d.id for d in found] == ["Stack.template.json/Scoped"]
    assert json.loads(stdin)[0]["document"]["Statement"][0]["Resource"] == "${Bucket.Arn}/*"


def test_unacknowledged_findings_fail_and_acknowledged_ones_pass(tmp_path: Path) -> None:
    found, _ = scan_input([write_template(tmp_path, Wide=WILDCARD_ROLE_POLICY, Scoped=SCOPED_POLICY)])
    results = {"Stack.template.json/Wide": {"PrivilegeEscalation": ["iam:PassRole"]}}
    analysis = evaluate(found, results)
    assert (analysis.documents, analysis.clean) == (2, 1)
    assert analysis.failures == ["PrivilegeEscalation Stack.template.json/Wide: iam:PassRole"]
    acknowledged = {
        **WILDCARD_ROLE_POLICY,
        "Metadata": {
            "cloudsplaining": {"acknowledged": [{"finding": "PrivilegeEscalation", "reason": "a specific reason"}]}
        },
    }
    found, _ = scan_input([write_template(tmp_path, Wide=acknowledged)])
    assert evaluate(found, results).failures == []
    stale = evaluate(found, {})
    assert stale.failures == ["stale acknowledgement PrivilegeEscalation on Stack.template.json/Wide: no finding"]


def test_the_scanner_flags_an_unconstrained_pass_role(tmp_path: Path) -> None:
    """The real cloudsplaining, in checkov's virtualenv, over a template with a risky policy."""
    python = checkov_python()
    assert python is not None, "checkov's virtualenv is missing: `make test` creates .venv-checkov"
    _, stdin = scan_input([write_template(tmp_path, Wide=WILDCARD_ROLE_POLICY, Scoped=SCOPED_POLICY)])
    completed = subprocess.run(
        [str(python), str(CLOUDSPLAINING_SCAN)], input=stdin, capture_output=True, text=True, check=True
    )
    results = json.loads(completed.stdout)
    assert "iam:PassRole" in str(results["Stack.template.json/Wide"])
    assert results["Stack.template.json/Scoped"] == {}
