"""Response shapes for the OpenAPI document (Azure's camelCase; extra fields allowed)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorDetail(_Open):
    code: str
    message: str


class ErrorResponse(_Open):
    error: ErrorDetail


class ArmResource(_Open):
    id: str
    name: str
    type: str
    properties: dict[str, Any]


class ArmList(_Open):
    value: list[ArmResource]
    nextLink: str | None = None


class OperationStatus(_Open):
    status: str = Field(description="InProgress | Succeeded | Failed | Canceled")


class Discovery(_Open):
    api: str


def error_responses(*codes: int) -> dict[int | str, dict]:
    descriptions = {400: "Bad request: invalid body or parameters", 401: "Missing, invalid or "
                    "expired token, or a token for another audience", 404: "Not found",
                    409: "Conflict (e.g. the output already exists)",
                    413: "Request body larger than 1 MiB"}
    return {code: {"model": ErrorResponse, "description": descriptions[code]} for code in codes}
