"""One exception hierarchy for every front end.

Each subclass declares data (``code``, ``http_status``, ``exit_code``); the CLI turns an
``EmulatorError`` into one line on stderr and its ``exit_code``, the server into Azure's
``{"error": {"code", "message"}}`` body with ``http_status``. Messages say what happened,
which limit or thing was involved, and what to do next.

Every exception keeps its constructor arguments in ``args`` so it survives a pickle
round-trip when it crosses a Dask worker boundary.
"""

from __future__ import annotations


class EmulatorError(Exception):
    """Base of every error the emulator raises on purpose. ``detail`` is the long story (a
    tool's full output, a traceback) kept for logs; the message stays one line."""

    code = "UserError"
    http_status = 400
    exit_code = 1

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.args = (message, detail) if detail else (message,)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return self.message


class ValidationError(EmulatorError):
    """A YAML file, an override or an argument does not match its schema."""

    code = "ValidationError"
    exit_code = 2

    def __init__(self, message: str, errors: tuple[str, ...] = ()):
        super().__init__(message)
        self.args = (message, tuple(errors))
        self.errors = tuple(errors) or (message,)


class NotSupportedError(EmulatorError):
    """Azure accepts it, the emulator does not (yet)."""

    code = "NotSupported"
    exit_code = 2


class ResourceNotFoundError(EmulatorError):
    """A named endpoint, deployment, job, asset, datastore or file does not exist."""

    code = "ResourceNotFound"
    http_status = 404
    exit_code = 3


class InputError(EmulatorError):
    """The job's input cannot be read or holds nothing to score."""

    code = "UserError"
    exit_code = 2


class ScoringScriptError(EmulatorError):
    """The scoring script is missing, does not parse or lacks init()/run()."""

    code = "ScoringScriptError"
    exit_code = 2


class OutputExistsError(EmulatorError):
    """Output uniqueness: the results file (or summary_only folder) already exists."""

    code = "OutputAlreadyExists"
    http_status = 409
    exit_code = 4


class JobFailedError(EmulatorError):
    """Raised by callers that want an exception for a job that ended Failed."""

    code = "JobFailed"
    http_status = 500
    exit_code = 5


class ClusterError(EmulatorError):
    """The Dask cluster could not be started or reached."""

    code = "ClusterError"
    http_status = 503
    exit_code = 6


class StorageUnavailableError(EmulatorError):
    """Object storage (a datastore, the workspace's Azurite) cannot be reached or is not running."""

    code = "StorageUnavailable"
    http_status = 503
    exit_code = 6


class MissingObjectError(ResourceNotFoundError):
    """An object a job or a registration needs is not in its object store."""


class AuthenticationError(EmulatorError):
    """A missing, malformed, forged or expired access token."""

    code = "InvalidAuthenticationToken"
    http_status = 401
    exit_code = 7


class AudienceError(AuthenticationError):
    """A valid token for another resource (the control plane's for the data plane...)."""

    code = "InvalidAuthenticationTokenAudience"


class EnvironmentBuildError(EmulatorError):
    """An isolated environment could not be built (uv's output in ``detail``)."""

    code = "EnvironmentBuildFailed"
    exit_code = 8


class ServerError(EmulatorError):
    """``serve`` cannot listen where it was asked to."""

    code = "ServerError"
    http_status = 503
    exit_code = 9


class StoreError(EmulatorError):
    """A workspace store that is damaged, unreadable or of a newer emulator."""

    code = "WorkspaceStoreUnusable"
    http_status = 500
    exit_code = 10


class ConflictError(EmulatorError):
    """The request contradicts what exists (an immutable version registered differently)."""

    code = "Conflict"
    http_status = 409
    exit_code = 4
