"""SPEC §7: MLflow python_function models scored without a scoring script."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import yaml

from emulator.exceptions import NotSupportedError
from tests.helpers import run_cli
from tests.mlflow.conftest import patients


def deployment_for(tmp_path: Path, model: Path, **settings) -> Path:
    path = tmp_path / f"deployment-{model.name}.yml"
    path.write_text(yaml.safe_dump({
        "name": "mlflow-dpl", "endpoint_name": "mlflow-ep", "type": "model",
        "model": {"path": str(model), "type": "mlflow_model"},
        "settings": {"mini_batch_size": 2, **settings}}))
    return path


def expected_lines(model: Path, frames: dict[str, pd.DataFrame]) -> list[str]:
    """What Azure's driver writes: <row>,<prediction...>,<file> for each row of each file."""
    loaded = mlflow.pyfunc.load_model(str(model))
    lines = []
    for name, frame in frames.items():
        predictions = np.asarray(loaded.predict(frame))
        for row, value in enumerate(predictions):
            values = value if np.ndim(value) else [value]
            lines.append(",".join([str(row), *(repr(v.item()) for v in values), name]))
    return lines


def test_classifier_with_a_string_column_casts_csv_dtypes_from_the_signature(
        models, tmp_path, run_job):
    inputs = tmp_path / "in"
    inputs.mkdir()
    data = patients()
    frames = {"a.csv": data.iloc[:3], "b.csv": data.iloc[3:]}
    for name, frame in frames.items():
        frame.to_csv(inputs / name, index=False)
    assert "01234" in (inputs / "a.csv").read_text()  # read without the signature: int 1234
    signature = mlflow.pyfunc.load_model(str(models["classifier"])).metadata.get_input_schema()
    assert signature.input_types()[1].name == "string"

    job = run_job(deployment_for(tmp_path, models["classifier"]), inputs)

    assert job.status == "Completed", job.error
    assert (job.files_succeeded, job.files_failed) == (2, 0)
    lines = Path(job.output_file).read_text().splitlines()
    assert lines == expected_lines(models["classifier"], frames)
    assert lines[0].startswith("0,") and lines[0].endswith(",a.csv")
    assert len(lines) == 8  # one line per row, rows counted from 0 within each file


def test_regressor_floats_are_written_as_pandas_writes_them(models, tmp_path, run_job):
    inputs = tmp_path / "in"
    inputs.mkdir()
    frame = patients()[["age", "chol"]]
    frame.to_csv(inputs / "only.csv", index=False)
    job = run_job(deployment_for(tmp_path, models["regressor"]), inputs)
    assert job.status == "Completed", job.error
    assert Path(job.output_file).read_text().splitlines() == expected_lines(
        models["regressor"], {"only.csv": frame})


def test_several_prediction_columns_expand_in_place(models, tmp_path, run_job):
    inputs = tmp_path / "in"
    inputs.mkdir()
    frame = patients()[["age", "chol"]].iloc[:2]
    frame.to_csv(inputs / "two.csv", index=False)
    job = run_job(deployment_for(tmp_path, models["multi"]), inputs)
    assert job.status == "Completed", job.error
    lines = Path(job.output_file).read_text().splitlines()
    assert lines == expected_lines(models["multi"], {"two.csv": frame})
    assert [len(line.split(",")) for line in lines] == [4, 4]  # row, 2 predictions, file


def test_parquet_and_pqt_files_are_scored(models, tmp_path, run_job):
    inputs = tmp_path / "in"
    inputs.mkdir()
    frame = patients()[["age", "chol"]]
    frame.iloc[:4].to_parquet(inputs / "x.parquet")
    frame.iloc[4:].to_parquet(inputs / "y.pqt")
    job = run_job(deployment_for(tmp_path, models["regressor"]), inputs)
    assert job.status == "Completed", job.error
    assert Path(job.output_file).read_text().splitlines() == expected_lines(
        models["regressor"], {"x.parquet": frame.iloc[:4], "y.pqt": frame.iloc[4:]})


def test_images_are_read_as_arrays(models, tmp_path, run_job):
    from PIL import Image

    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(np.full((4, 4), 10, dtype=np.uint8)).save(inputs / "ten.png")
    Image.fromarray(np.full((2, 2, 3), 200, dtype=np.uint8)).save(inputs / "bright.jpg")
    job = run_job(deployment_for(tmp_path, models["images"]), inputs)
    assert job.status == "Completed", job.error
    assert sorted(Path(job.output_file).read_text().splitlines()) == [
        "0,10.0,ten.png", "0,200.0,bright.jpg"]


def test_an_unsupported_file_fails_its_whole_mini_batch_with_azures_message(
        models, tmp_path, run_job):
    inputs = tmp_path / "in"
    inputs.mkdir()
    frame = patients()[["age", "chol"]]
    frame.to_csv(inputs / "a.csv", index=False)
    (inputs / "b.txt").write_text("not a table")
    frame.to_csv(inputs / "c.csv", index=False)
    job = run_job(deployment_for(tmp_path, models["regressor"], retry_settings={"max_retries": 0}),
                  inputs)
    assert job.status == "Completed"  # error_threshold -1
    [failed] = job.failed_mini_batches
    assert [Path(f).name for f in failed.files] == ["a.csv", "b.txt"]  # a.csv fails with it
    assert "File type '.txt' is not supported. Current accepted filetypes are:" in failed.error
    assert "Not all input files were processed successfully" in failed.error
    assert (job.files_succeeded, job.files_failed) == (1, 2)
    assert all(line.endswith(",c.csv") for line in Path(job.output_file).read_text().splitlines())


def test_a_model_without_the_pyfunc_flavor_is_refused(models, tmp_path, run_job, make_inputs):
    with pytest.raises(NotSupportedError, match="has no python_function flavor"):
        run_job(deployment_for(tmp_path, models["sklearn-only"]), make_inputs(1))


def test_registered_mlflow_model_through_the_cli(models, tmp_path, monkeypatch,
                                                 dask_scheduler_address):
    monkeypatch.setenv("BATCH_EMULATOR_HOME", str(tmp_path / "home"))
    inputs = tmp_path / "in"
    inputs.mkdir()
    frame = patients()[["age", "chol"]]
    frame.to_csv(inputs / "p.csv", index=False)
    assert run_cli("ml", "compute", "create", "-n", "cpu", "--type", "dask", "--set",
                   f"scheduler_address={dask_scheduler_address}")[0] == 0
    code, out, err = run_cli("ml", "model", "create", "--name", "heart-regressor", "--type",
                             "mlflow_model", "--path", str(models["regressor"]))
    assert code == 0, err
    assert "python_function" in json.loads(out)["flavors"]
    run_cli("ml", "batch-endpoint", "create", "-n", "mlflow-ep")
    deployment = tmp_path / "no-code.yml"
    deployment.write_text("name: mlflow-dpl\nendpoint_name: mlflow-ep\ntype: model\n"
                          "model: azureml:heart-regressor@latest\ncompute: azureml:cpu\n")
    code, _, err = run_cli("ml", "batch-deployment", "create", "-f", str(deployment),
                           "--set-default")
    assert code == 0, err
    code, out, err = run_cli("ml", "batch-endpoint", "invoke", "-n", "mlflow-ep", "--input",
                             str(inputs), "--query", "name", "-o", "tsv")
    assert code == 0, err
    code, _, err = run_cli("ml", "job", "stream", "-n", out.strip())
    assert code == 0, err
    shown = json.loads(run_cli("ml", "job", "show", "-n", out.strip())[1])
    assert Path(shown["properties"]["output_file"]).read_text().splitlines() == expected_lines(
        models["regressor"], {"p.csv": frame})

    code, _, err = run_cli("ml", "model", "create", "--name", "not-mlflow", "--type",
                           "mlflow_model", "--path", str(inputs))
    assert code != 0 and "is not an MLflow model (no MLmodel file)" in err
    code, _, err = run_cli("ml", "model", "create", "--name", "sk", "--type", "mlflow_model",
                           "--path", str(models["sklearn-only"]))
    assert code == 0, err
    deployment.write_text(deployment.read_text().replace("heart-regressor", "sk"))
    code, _, err = run_cli("ml", "batch-deployment", "create", "-f", str(deployment))
    assert code != 0 and "has no python_function flavor" in err
