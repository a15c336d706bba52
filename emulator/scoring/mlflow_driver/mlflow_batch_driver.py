"""The scoring script the emulator supplies for MLflow models deployed without one (SPEC §7).

As Azure's generated driver: the model is the single entry in ``AZUREML_MODEL_DIR``, loaded
once per process with ``mlflow.pyfunc.load_model``; ``predict`` runs once per file; CSV
columns are cast to the model signature's types; one bad file fails the whole mini-batch.
Each output line is ``<row>,<prediction>[,<more prediction columns>],<file name>``.
"""

from __future__ import annotations

import io
import os

import mlflow.pyfunc
import numpy as np
import pandas as pd

TABULAR = (".csv", ".parquet", ".pqt")
IMAGES = (".png", ".jpg", ".jpeg", ".tiff", ".bmp", ".gif")
ACCEPTED = [*TABULAR, *IMAGES]

model = None
csv_dtypes: dict | None = None


def init():
    global model, csv_dtypes
    model_root = os.environ["AZUREML_MODEL_DIR"]
    # realpath: MLflow refuses model files reached through a link from outside the model folder
    model_path = os.path.realpath(os.path.join(model_root, sorted(os.listdir(model_root))[0]))
    model = mlflow.pyfunc.load_model(model_path)
    schema = model.metadata.get_input_schema()
    csv_dtypes = None
    if schema is not None and not schema.is_tensor_spec() and schema.has_input_names():
        csv_dtypes = dict(zip(schema.input_names(), schema.pandas_types(), strict=True))


def read(path: str):
    extension = os.path.splitext(path)[1].lower()
    if extension == ".csv":
        return pd.read_csv(path, engine="c", dtype=csv_dtypes)
    if extension in (".parquet", ".pqt"):
        return pd.read_parquet(path)
    if extension in IMAGES:
        from PIL import Image

        with Image.open(path) as image:
            return np.asarray(image)[np.newaxis, ...]
    raise ValueError(f"File type '{extension}' is not supported. Current accepted filetypes "
                     f"are: {ACCEPTED}")


def lines_for(predictions, file_name: str) -> str:
    if isinstance(predictions, dict):
        predictions = pd.DataFrame(predictions)
    if isinstance(predictions, pd.Series):
        predictions = predictions.to_frame()
    if not isinstance(predictions, pd.DataFrame):
        array = np.asarray(predictions)
        predictions = pd.DataFrame(array.reshape(len(array), -1) if array.ndim > 1 else array)
    frame = predictions.reset_index(drop=True)
    frame.insert(len(frame.columns), "__file__", file_name, allow_duplicates=True)
    buffer = io.StringIO()
    frame.to_csv(buffer, header=False, index=True, lineterminator="\n")
    return buffer.getvalue()


def run(mini_batch):
    results, errors = [], {}
    for path in mini_batch:
        try:
            results.append(lines_for(model.predict(read(path)), os.path.basename(path)))
        except Exception as exc:
            errors[os.path.basename(path)] = f"{type(exc).__name__}: {exc}"
            print(f"ERROR:azureml:Error processing input file: '{path}'. {exc}")
    if errors:
        raise ValueError("Not all input files were processed successfully. Record of errors by "
                         f"filename: {errors}")
    return [line for text in results for line in text.splitlines()]
