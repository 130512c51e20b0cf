"""What a registered model package records about how it was made.

The training state machine writes these keys into each package's customer metadata
(`stacks.training_flow`); the promotion tool reads them back to show a package's metrics
and to refuse a package trained against another event contract than the one the
endpoint's callers and the predict function use now (training/serving parity). Both
read the key names and the contract's fingerprint from here, so they cannot drift apart.
"""

from __future__ import annotations

import hashlib

import contracts

# Customer metadata keys of a model package (SageMaker stores every value as a string).
VALIDATION_RMSE = "validation_rmse"
TUNING_JOB = "tuning_job"
BEST_TRAINING_JOB = "best_training_job"
TRAINING_DATA = "training_data"
ETL_RUN = "etl_run"
CONTRACT_VERSION = "contract_version"
CONTRACT_SHA256 = "contract_sha256"
EXECUTION = "execution"
# The etl_run of a training run started by hand: its training data is whatever the latest ETL run
# left, so the package names no ETL run (nor the drift baseline that run kept).
MANUAL_RUN = "manual"


def contract_sha256() -> str:
    """The SHA-256 of the contract file's text, as every asset carries it byte for byte."""
    return hashlib.sha256(contracts.contract_text().encode("utf-8")).hexdigest()


def contract_fingerprint() -> dict[str, str]:
    """The contract a package is trained against now: its version and the hash of its text."""
    return {CONTRACT_VERSION: str(contracts.load().version), CONTRACT_SHA256: contract_sha256()}


def contract_mismatch(metadata: dict[str, str]) -> str | None:
    """Why a package's recorded contract differs from the current one (None when it matches)."""
    current = contract_fingerprint()
    differences = [
        f"{key} {metadata.get(key, '(not recorded)')!r}, the current contract has {value!r}"
        for key, value in current.items()
        if metadata.get(key) != value
    ]
    return "; ".join(differences) or None
