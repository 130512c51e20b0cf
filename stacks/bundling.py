"""Asset bundling without Docker: copy the code and the shared contract into the asset.

Lambda functions and the Glue job both need their own code plus the `contracts`
package at run time. Local bundling copies them at synth time, so every asset carries
the repository's contract (never a hand-kept copy) and its hash changes when either does.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS_DIR = ROOT / "contracts"
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")


@jsii.implements(cdk.ILocalBundling)
class LocalCopy:
    """Copies `entries` (destination inside the asset -> source file or folder; "" is the root)."""

    def __init__(self, entries: dict[str, Path]) -> None:
        self.entries = entries

    def try_bundle(self, output_dir: str, _options: Any = None, **_kwargs: Any) -> bool:
        for destination, source in self.entries.items():
            target = Path(output_dir) / destination
            if source.is_dir():
                shutil.copytree(source, target, dirs_exist_ok=True, ignore=IGNORE)
            else:
                shutil.copyfile(source, target)
        return True


def with_contract(entries: dict[str, Path]) -> cdk.BundlingOptions:
    """Bundling options that copy `entries` plus the `contracts` package."""
    return cdk.BundlingOptions(
        image=cdk.DockerImage.from_registry("unused-local-bundling-only"),
        local=LocalCopy({**entries, CONTRACTS_DIR.name: CONTRACTS_DIR}),
    )
