"""Run by the checkov virtualenv's Python (where cloudsplaining is installed): reads a JSON list
of `{"id": ..., "document": {...}}` on stdin and writes, for each, the cloudsplaining finding
categories with their actions as JSON on stdout. A plain script, so that it imports nothing of
this project into the other virtualenv."""

from __future__ import annotations

import json
import sys

from cloudsplaining.command.scan_policy_file import scan_policy


def main() -> int:
    results = {}
    for item in json.load(sys.stdin):
        findings = scan_policy(item["document"])
        results[item["id"]] = {
            category: sorted(
                set(result["findings"])
                if category != "PrivilegeEscalation"
                else {action for finding in result["findings"] for action in finding.get("actions", [])}
            )
            for category, result in findings.items()
            if isinstance(result, dict) and result.get("findings")
        }
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
