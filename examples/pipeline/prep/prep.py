"""Preprocessing step: every CSV of --data without incomplete rows, written to --out."""

import argparse
from pathlib import Path

import pandas as pd

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True)
parser.add_argument("--out", required=True)
args = parser.parse_args()

out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
for path in sorted(Path(args.data).glob("*.csv")):
    rows = pd.read_csv(path).dropna()
    rows.to_csv(out / path.name, index=False)
    print(f"{path.name}: {len(rows)} complete row(s)")
