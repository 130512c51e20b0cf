"""Predict handler cost: warm per-request overhead and cold-start import time.

Warm: the whole handler (parse, validate against the contract, encode like training,
format CSV, build the response) with the endpoint call stubbed, against the floor of
`json.loads` plus CSV formatting of the same already-numeric rows. Cold start: the
handler module's import time against the floor of `import boto3`, each in a fresh
interpreter. Run: `python -m benchmarks.predict_handler`.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchmarks.report import median, write_section

ROOT = Path(__file__).resolve().parent.parent
FUNCTION_DIR = ROOT / "lambda" / "predict"
BATCH = 25
WARM_RUNS = 2000
IMPORT_RUNS = 15


class StubRuntime:
    def invoke_endpoint(self, **kwargs: Any) -> dict[str, Any]:
        rows = kwargs["Body"].count(b"\n") + 1
        return {"Body": io.BytesIO(b"\n".join(b"123456.0" for _ in range(rows))), "InvokedProductionVariant": "primary"}


def warm(predict: Any, body: str, numeric_body: str) -> tuple[float, float]:
    event = {"headers": {"Content-Type": "application/json"}, "body": body}
    context = SimpleNamespace(aws_request_id="bench")

    def handler_once() -> None:
        predict.handler(event, context)

    def floor_once() -> None:
        rows = json.loads(numeric_body)
        "\n".join(",".join(repr(v) for v in row) for row in rows)

    samples: dict[str, list[float]] = {"handler": [], "floor": []}
    for _ in range(5):
        for name, fn in (("floor", floor_once), ("handler", handler_once)):
            started = time.perf_counter()
            for _ in range(WARM_RUNS // 5):
                fn()
            samples[name].append((time.perf_counter() - started) / (WARM_RUNS // 5))
    return median(samples["handler"]), median(samples["floor"])


def import_time(statement: str, env: dict[str, str]) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=FUNCTION_DIR, env=env, check=True, capture_output=True, text=True
    )
    return float(out.stdout.strip())


def main() -> int:
    env = {
        **os.environ,
        "PYTHONPATH": f"{FUNCTION_DIR}{os.pathsep}{ROOT}",
        "STATISTICS_FILE": str(ROOT / "model" / "feature_statistics.json"),
        "MAX_BATCH_SIZE": "100",
    }
    os.environ.update({k: env[k] for k in ("STATISTICS_FILE", "MAX_BATCH_SIZE")})
    sys.path[:0] = [str(FUNCTION_DIR), str(ROOT)]
    import predict

    from tools import synthetic

    predict._client = StubRuntime()
    features = [f.name for f in predict.CONTRACT.features]
    instances = [{k: v for k, v in e.items() if k in features} for e in synthetic.events(BATCH, seed=11)]
    body = json.dumps({"instances": instances})
    numeric_body = json.dumps([predict.ENCODER.encode(i) for i in instances])
    handler_s, floor_s = warm(predict, body, numeric_body)

    imports: dict[str, list[float]] = {"predict": [], "boto3": []}
    for _ in range(IMPORT_RUNS):
        imports["boto3"].append(import_time("import boto3", env))
        imports["predict"].append(import_time("import predict", env))
    module_s, boto3_s = median(imports["predict"]), median(imports["boto3"])

    body_md = (
        "## Predict handler: warm overhead and cold-start import\n\n"
        f"`python -m benchmarks.predict_handler` - {BATCH} instances per request, endpoint call stubbed, "
        f"{WARM_RUNS} warm requests; imports in {IMPORT_RUNS} fresh interpreters each.\n\n"
        "| measurement | median | floor | ratio | target |\n| --- | --- | --- | --- | --- |\n"
        f"| warm request (validate + encode + respond) | {handler_s * 1e6:.0f} us "
        f"| {floor_s * 1e6:.0f} us (json.loads + CSV) "
        f"| **{handler_s / floor_s:.2f}x** | <= 2.0x |\n"
        f"| module import (cold start) | {module_s * 1e3:.0f} ms | {boto3_s * 1e3:.0f} ms (import boto3) "
        f"| **{module_s / boto3_s:.2f}x** | <= 1.2x |"
    )
    write_section("predict_handler", body_md)
    print(body_md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
