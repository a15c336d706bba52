"""The one way a deployment document becomes a ``BatchDeployment``: parse, apply ``--set``,
refuse what is not supported, validate against the schema and the rules beside it, build.

``run_batch_job`` / ``batch-emulator run``, ``batch-deployment create|update`` (CLI and
REST) and the pytest plugin all load deployments here; ``validate`` lists the same errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from emulator.exceptions import ValidationError
from emulator.model import schemas
from emulator.model.specs import BatchDeployment, apply_set_values, build_deployment, check_scoring_script
from emulator.model.validation import check_deployment


def load_deployment(source: str | Path | schemas.Document, set_values: Iterable[str] = (), *,
                    base: Path | None = None,
                    resolve: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                    skip_script_validation: bool = False) -> BatchDeployment:
    """A deployment from a YAML file or a parsed document (a REST body, a stored deployment).

    Local paths are relative to ``base`` (default: the YAML's folder). ``resolve`` may rewrite
    the data after ``--set`` and before validation (registered code to its folder). The
    scoring script is parsed, as Azure does, unless ``skip_script_validation``.
    """
    if isinstance(source, schemas.Document):
        document = source
    else:
        document = schemas.load_document(source)
        base = base or Path(source).resolve().parent
    if not isinstance(document.data, dict):
        raise ValidationError(f"{document.source}:1: $: a batch deployment must be a YAML mapping "
                              "of keys to values")
    data = apply_set_values(document.data, set_values)
    if resolve is not None:
        data = resolve(data)
    document = schemas.Document(data, document.source, document.lines)
    check_deployment(document)
    deployment = build_deployment(data, base or Path.cwd(), document)
    if deployment.code_configuration is not None and not skip_script_validation:
        check_scoring_script(deployment.code_configuration)
    return deployment
