"""Train a small heart-disease classifier on the sample patients and save it as an MLflow
model (python_function flavor, with its signature) in examples/heart/model/."""

import sys
from pathlib import Path

import pandas as pd
from mlflow.models import infer_signature
from mlflow.sklearn import SERIALIZATION_FORMAT_CLOUDPICKLE, save_model
from sklearn.linear_model import LogisticRegression

HERE = Path(__file__).resolve().parent

patients = pd.concat(pd.read_csv(f) for f in sorted((HERE / "data").glob("*.csv")))
labels = (patients["chol"] > 240).astype(int)  # a stand-in for a diagnosis
classifier = LogisticRegression(max_iter=1000).fit(patients, labels)
target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "model"
save_model(classifier, target, serialization_format=SERIALIZATION_FORMAT_CLOUDPICKLE,
           signature=infer_signature(patients, classifier.predict(patients)))
print(f"saved an MLflow model in {target}")
