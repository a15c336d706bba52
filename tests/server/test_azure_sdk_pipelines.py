"""Pipelines from Azure's own SDK (issue 15): the unmodified azure-ai-ml drives components,
a PipelineComponentBatchDeployment, its invoke with a folder and a string literal, the steps
as child jobs, a pipeline job and a deployment made from it (``job_definition``), through
``serve --azure-compatible`` with its Azurite (marker ``azure_sdk``)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("azure.ai.ml", reason="needs azure-ai-ml (the test extras pin it)")
pytest.importorskip("mlflow", reason="the scoring step loads an MLflow model")

from tests.helpers import run_cli
from tests.server import test_azure_sdk

# The fixtures of the SDK's batch flow: a server with its Azurite on a fresh home, a Dask compute.
azure_compatible_server = test_azure_sdk.azure_compatible_server
dask_compute = test_azure_sdk.dask_compute

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HERE = Path(__file__).resolve().parent
pytestmark = [pytest.mark.azure_sdk, pytest.mark.slow]


def test_the_sdk_registers_deploys_invokes_and_downloads_a_pipeline(
        azure_compatible_server, dask_compute, tmp_path):
    _, exports = azure_compatible_server
    model = tmp_path / "heart-model"
    trained = subprocess.run([sys.executable, str(EXAMPLES / "heart" / "train.py"), str(model)],
                             capture_output=True, text=True, timeout=300)
    assert trained.returncode == 0, trained.stderr[-2000:]
    result = subprocess.run(
        [sys.executable, str(HERE / "sdk_pipeline_flow.py"), str(EXAMPLES), str(model),
         str(tmp_path / "downloads")], env={**os.environ, **exports}, capture_output=True,
        text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"SDK pipeline flow took {seen['seconds']} s after imports")

    assert seen["prep"] == ["heart_prep", "1"] and seen["score"] == ["heart_score", "1"]
    name, version, latest, steps = seen["pipeline"]
    assert (name, version, latest, steps) == ("heart_batch_scoring", "1", "1", ["prep", "score"])
    assert seen["deployment"] == ["PipelineComponent", "batch-cluster"]
    for run in ("invoked", "job", "from_job"):
        assert seen[run][1].lower() == "completed", seen
        steps = seen[f"{run}_steps"]
        assert sorted(steps) == ["prep", "score"]
        assert all(name == f"{seen[run][0]}-{step}" for step, (name, _) in steps.items())
        assert all(status.lower() == "completed" for _, status in steps.values())

    patients = sum(len(list(csv.DictReader(path.read_text().splitlines())))
                   for path in (EXAMPLES / "heart" / "data").glob("*.csv"))
    for run, label in (("invoked", "risk"), ("job", "high_chol"), ("from-job", "high_chol")):
        scores = tmp_path / "downloads" / run / "named-outputs" / "scores" / "predictions.csv"
        rows = list(csv.DictReader(scores.read_text().splitlines()))
        assert 0 < len(rows) <= patients  # prep drops incomplete rows
        assert {row[label] for row in rows} <= {"0", "1"}, (run, rows[0])

    # The CLI sees what the SDK made: the components and the steps of the invoked job.
    listed = json.loads(run_cli("ml", "component", "list", "--query", "[].name")[1])
    assert {"heart_prep", "heart_score", "heart_batch_scoring"} <= set(listed)
    code, out, err = run_cli("ml", "job", "list", "--parent-job-name", seen["invoked"][0],
                             "--query", "[].display_name", "-o", "tsv")
    assert code == 0, err
    assert out.split() == ["prep", "score"]
