"""Demo scoring script: a logistic regression read from the model folder, one row per patient."""

import glob
import json
import math
import os

import pandas as pd

model = None


def init():
    global model
    # The registered model keeps its folder name under AZUREML_MODEL_DIR, as in Azure.
    path = glob.glob(os.path.join(os.environ["AZUREML_MODEL_DIR"], "*", "model.json"))[0]
    with open(path, encoding="utf-8") as file:
        model = json.load(file)
    print(f"loaded model with {len(model['coefficients'])} coefficients")


def run(mini_batch):
    results = []
    for file_path in mini_batch:
        data = pd.read_csv(file_path)
        for row_number, row in data.iterrows():
            z = model["intercept"] + sum(
                weight * row[column] for column, weight in model["coefficients"].items())
            probability = 1 / (1 + math.exp(-z))
            results.append({
                "file": os.path.basename(file_path),
                "row": row_number,
                "prediction": int(probability >= 0.5),
                "probability": round(probability, 4),
            })
    return pd.DataFrame(results)
