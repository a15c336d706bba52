"""The azure-ai-ml SDK's batch flow against ``serve --azure-compatible`` and its Azurite.

Target (issue 8): the flow of ``tests/server/sdk_flow.py`` (endpoint, ModelBatchDeployment
from local folders, default, invoke on a local folder of 40 images, ``jobs.get`` until
Completed, ``jobs.stream``, ``jobs.download``, ``list_jobs``) completes in under 10 s,
excluding package imports. Each repetition uses a fresh home and server; the compute is an
``amlcompute``, so each job starts its own LocalCluster, as a new user's would.

    python benchmarks/sdk_flow.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _common as common

from emulator.azure import AzureCompatibleServer

ROOT = common.BENCH_DIR.parent
FLOW = ROOT / "tests" / "server" / "sdk_flow.py"
MNIST = ROOT / "examples" / "mnist"
REPO_AZURITE = ROOT / "tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"


def one_flow(root: Path) -> dict:
    home = root / "home"
    env = {**os.environ, "BATCH_EMULATOR_HOME": str(home)}
    if REPO_AZURITE.exists():
        env.setdefault("BATCH_EMULATOR_AZURITE", str(REPO_AZURITE))
    with AzureCompatibleServer(home, env=env) as server:
        subprocess.run([sys.executable, "-m", "emulator", "ml", "compute", "create", "-n",
                        "batch-cluster", "--type", "amlcompute", "--set", "max_instances=1",
                        "-o", "none"], env=env, check=True)
        started = time.monotonic()
        result = subprocess.run([sys.executable, str(FLOW), str(MNIST), str(root / "download"),
                                 str(root / "other")], env={**env, **server.exports},
                                capture_output=True, text=True, timeout=300)
        total = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    return {"flow": seen["seconds"], "with_imports": total, "status": seen["status"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for index in range(args.repeat):
        with common.temp_dir(f"sdk-flow-{index}") as root:
            runs.append(one_flow(root))
    flow = statistics.median(r["flow"] for r in runs)
    total = statistics.median(r["with_imports"] for r in runs)
    common.print_table(["run", "flow s (after imports)", "with imports s", "status"],
                       [[i + 1, f"{r['flow']:.2f}", f"{r['with_imports']:.2f}", r["status"]]
                        for i, r in enumerate(runs)], title="azure-ai-ml batch flow")
    ok = flow < 10 and all(r["status"].lower().endswith("completed") for r in runs)
    print(f"\nmedian {flow:.2f} s after imports, {total:.2f} s with them (target < 10 s): "
          f"{common.verdict(ok)}")
    common.save_results("sdk_flow", {"runs": runs, "flow_median": flow, "total_median": total,
                                     "pass": ok, "environment": common.environment()})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
