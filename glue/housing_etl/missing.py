"""The contract's missing-value policy, applied with fitted statistics.

Each field's ``missing`` entry in the contract names the strategy; the medians come
from the statistics fitted on the training split, never from the data being
transformed, so validation rows and inference requests are imputed with the same
values the model was trained with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from contracts import Contract


def handle_missing(
    df: DataFrame,
    contract: Contract,
    stats: Mapping[str, Any],
    *,
    drop_unlabeled: bool = True,
) -> DataFrame:
    """Impute, flag and (for training output) drop, per the contract.

    - ``median`` (numeric features): null becomes the fitted median.
    - ``flag: true``: ``<name>_missing`` (int) is 1 where the value was null, else 0,
      computed before imputation so the model can tell imputed values apart.
    - ``constant`` (categorical features): null becomes the contract's value.
    - ``drop`` (the label): rows without it are removed when ``drop_unlabeled``; the
      curated zone never passes through here, so it keeps unlabeled rows.
    """
    out = df
    label = contract.label
    if drop_unlabeled and label.missing_strategy == "drop" and label.name in df.columns:
        out = out.where(F.col(label.name).isNotNull())
    for f in contract.flagged_features:
        out = out.withColumn(f"{f.name}_missing", F.col(f.name).isNull().cast("int"))
    fills: dict[str, Any] = {}
    for f in contract.features:
        if f.missing_strategy == "median":
            fills[f.name] = F.coalesce(F.col(f.name).cast("double"), F.lit(stats["numeric"][f.name]["impute"]))
        elif f.missing_strategy == "constant":
            fills[f.name] = F.coalesce(F.col(f.name), F.lit(f.missing_value))
    return out.withColumns(fills)
