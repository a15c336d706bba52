"""MLflow models: recognising them and the flavor the emulator can score without a script."""

from __future__ import annotations

from pathlib import Path

from emulator.exceptions import NotSupportedError, ValidationError

PYFUNC = "python_function"
DRIVER_DIR = Path(__file__).resolve().parents[1] / "scoring" / "mlflow_driver"
DRIVER_SCRIPT = "mlflow_batch_driver.py"


def model_root(path: Path) -> Path:
    """The folder holding ``MLmodel``: the path itself, or its single subfolder."""
    if (path / "MLmodel").is_file():
        return path
    entries = [p for p in path.iterdir() if not p.name.startswith(".")] if path.is_dir() else []
    if len(entries) == 1 and (entries[0] / "MLmodel").is_file():
        return entries[0]
    return path


def is_mlflow_model(path: Path) -> bool:
    return (model_root(path) / "MLmodel").is_file()


def flavors(path: Path) -> dict:
    """The ``flavors`` of an MLflow model folder; a clear error when it is not one."""
    import yaml  # where a model is checked: a read of the service never pays for it

    mlmodel = model_root(path) / "MLmodel"
    if not mlmodel.is_file():
        raise ValidationError(f"{path} is not an MLflow model (no MLmodel file); register it "
                              "with --type custom_model, or point --path at the MLflow model")
    try:
        document = yaml.safe_load(mlmodel.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError(f"{mlmodel} cannot be read: {exc}") from None
    return document.get("flavors") or {}


def require_pyfunc(path: Path, model_name: str) -> None:
    """Only ``python_function`` models are scored without a scoring script (as in Azure)."""
    found = flavors(path)
    if PYFUNC not in found:
        raise NotSupportedError(
            f"model {model_name} has no {PYFUNC} flavor (flavors: {', '.join(found) or 'none'}); "
            "only python_function MLflow models can be deployed without a scoring script: add "
            "code_configuration with a scoring script, or save the model with mlflow.pyfunc")
