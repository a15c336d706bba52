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


class ArmJob(ArmResource):
    properties: dict[str, Any] | None  # null for a pipeline's step: read it from run history


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


def json_body(schema: dict, description: str) -> dict:
    """``openapi_extra`` for a route that reads its JSON body itself."""
    return {"requestBody": {"required": True, "description": description,
                            "content": {"application/json": {"schema": schema}}}}


_INTEGER = {"anyOf": [{"type": "integer"}, {"type": "string"}],
            "description": "a number, or a string of digits as Azure accepts"}
ENDPOINT_BODY = {
    "type": "object",
    "properties": {
        "location": {"type": "string"},
        "tags": {"type": "object", "additionalProperties": {"type": "string"}},
        "properties": {"type": "object", "properties": {
            "description": {"type": "string"},
            "authMode": {"type": "string", "enum": ["AADToken", "aadToken", "AMLToken", "Key"]},
            "defaults": {"type": "object", "properties": {"deploymentName": {"type": "string"}}},
            "properties": {"type": "object"}}},
    },
}
DEPLOYMENT_BODY = {
    "type": "object",
    "properties": {
        "location": {"type": "string"},
        "tags": {"type": "object"},
        "properties": {"type": "object", "properties": {
            "description": {"type": "string"},
            "model": {"type": "object", "properties": {
                "referenceType": {"type": "string", "enum": ["Id"]},
                "assetId": {"type": "string", "description": "ARM id of a registered model"}}},
            "codeConfiguration": {"type": "object", "properties": {
                "codeId": {"type": "string"}, "scoringScript": {"type": "string"}}},
            "environmentId": {"type": "string"},
            "compute": {"type": "string"},
            "resources": {"type": "object", "properties": {"instanceCount": _INTEGER}},
            "maxConcurrencyPerInstance": _INTEGER, "miniBatchSize": _INTEGER,
            "errorThreshold": _INTEGER,
            "retrySettings": {"type": "object", "properties": {
                "maxRetries": _INTEGER,
                "timeout": {"type": "string", "description": "ISO 8601, e.g. PT30S"}}},
            "loggingLevel": {"type": "string", "enum": ["Info", "Warning", "Debug"]},
            "outputAction": {"type": "string", "enum": ["AppendRow", "SummaryOnly"]},
            "outputFileName": {"type": "string"},
            "environmentVariables": {"type": "object",
                                     "additionalProperties": {"type": "string"}}}},
    },
}
_INPUT = {"type": "object", "properties": {
    "JobInputType": {"type": "string", "enum": ["UriFolder", "UriFile"]},
    "Uri": {"type": "string"}}}
INVOKE_BODY = {
    "type": "object",
    "description": "The preview body (dataset, outputDataset, outputFileName) or the GA body "
                   "(InputData, OutputData); keys are case-insensitive.",
    "properties": {"properties": {"type": "object", "properties": {
        "dataset": {"type": "object", "properties": {
            "dataInputType": {"type": "string", "enum": ["DataUrl", "DatasetVersion",
                                                         "DatasetId"]},
            "Path": {"type": "string"}, "datasetName": {"type": "string"},
            "datasetVersion": {"type": "string"}, "datasetId": {"type": "string"}}},
        "outputDataset": {"type": "object", "properties": {
            "datastoreId": {"type": "string"}, "path": {"type": "string"}}},
        "outputFileName": {"type": "string"},
        "InputData": {"type": "object", "additionalProperties": _INPUT},
        "OutputData": {"type": "object", "additionalProperties": {"type": "object", "properties": {
            "JobOutputType": {"type": "string", "enum": ["UriFolder", "UriFile"]},
            "Uri": {"type": "string"}}}},
        "miniBatchSize": _INTEGER, "errorThreshold": _INTEGER,
        "retrySettings": {"type": "object"}, "compute": {"type": "object"},
        "name": {"type": "string"}}}},
    "required": ["properties"],
}
