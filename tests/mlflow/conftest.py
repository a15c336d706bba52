"""MLflow models built at test time from scikit-learn, once per session."""

from __future__ import annotations

import functools
import shutil
import sys
import warnings
from pathlib import Path

import pytest

pytest.importorskip("mlflow", reason="MLflow tests need the 'mlflow' extra")
sklearn = pytest.importorskip("sklearn", reason="MLflow tests need scikit-learn")

import mlflow.pyfunc  # noqa: E402
import mlflow.sklearn  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402
from mlflow.models import infer_signature  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mlflow"


def patients() -> pd.DataFrame:
    """Training data with a string column whose values look like numbers ('01234')."""
    return pd.DataFrame({
        "age": [35, 61, 47, 29, 70, 55, 41, 66],
        "zip": ["01234", "05678", "01234", "09999", "05678", "09999", "01234", "05678"],
        "chol": [180.0, 260.5, 210.0, 150.0, 300.0, 240.0, 190.0, 280.0],
    })


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, Path]:
    # MLflow's hints while saving (integer columns, pickle formats) are advice for training
    # code; as errors they would make it fall back to an untyped signature.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _build_models(tmp_path_factory.mktemp("mlflow-models"))


def _build_models(root: Path) -> dict[str, Path]:
    data = patients()
    labels = np.array([0, 1, 0, 0, 1, 1, 0, 1])
    classifier = Pipeline([
        ("encode", ColumnTransformer([("zip", OneHotEncoder(handle_unknown="error"), ["zip"])],
                                     remainder="passthrough")),
        ("model", LogisticRegression(max_iter=1000)),
    ]).fit(data, labels)
    save = functools.partial(mlflow.sklearn.save_model,  # skops would need another package
                             serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE)
    save(classifier, root / "classifier", signature=infer_signature(data, labels))

    numeric = data[["age", "chol"]]
    regressor = LinearRegression().fit(numeric, numeric["chol"] * 2 + 1)
    save(regressor, root / "regressor",
         signature=infer_signature(numeric, regressor.predict(numeric)))

    targets = np.column_stack([numeric["age"] * 2, numeric["chol"] + 1])
    multi = LinearRegression().fit(numeric, targets)
    save(multi, root / "multi", signature=infer_signature(numeric, targets))

    sys.path.insert(0, str(FIXTURES))
    try:
        import image_model

        mlflow.pyfunc.save_model(root / "images", python_model=image_model.MeanPixel(),
                                 code_paths=[str(FIXTURES / "image_model.py")])
    finally:
        sys.path.remove(str(FIXTURES))

    shutil.copytree(root / "regressor", root / "sklearn-only")
    mlmodel = root / "sklearn-only" / "MLmodel"
    document = yaml.safe_load(mlmodel.read_text())
    del document["flavors"]["python_function"]
    mlmodel.write_text(yaml.safe_dump(document))
    return {path.name: path for path in root.iterdir()}
