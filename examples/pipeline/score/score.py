"""Scoring step: the MLflow model at --model predicts every CSV of --data into --out."""

import argparse
from pathlib import Path

import mlflow.pyfunc
import pandas as pd

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True)
parser.add_argument("--model", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--label", default="prediction")
args = parser.parse_args()

model = mlflow.pyfunc.load_model(args.model)
scored = []
for path in sorted(Path(args.data).glob("*.csv")):
    rows = pd.read_csv(path)
    rows[args.label] = model.predict(rows)
    rows.insert(0, "file", path.name)
    scored.append(rows)
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
pd.concat(scored).to_csv(out / "predictions.csv", index=False)
print(f"scored {sum(len(r) for r in scored)} row(s) of {len(scored)} file(s)")
