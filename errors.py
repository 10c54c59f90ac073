"""Domain errors. Services raise these; only `api/` maps them to HTTP statuses, and the CLI to exit codes."""


class VigieError(Exception):
    """Base class of every error Vigie raises on purpose."""


class InvalidInputError(VigieError, ValueError):
    """An input (file, frame, request field, configuration value) is not what was expected."""


class ConfigError(InvalidInputError):
    """A configuration file or value is invalid; the message names the file, the key and what was expected."""


class NotFoundError(VigieError, LookupError):
    """A referenced object (camera, site, station, alert...) does not exist."""


class ConflictError(VigieError):
    """The request conflicts with stored state (duplicate name, illegal state transition...)."""


class ModelUnavailableError(VigieError):
    """A model file is missing or does not match its checksum; the message says how to fetch it."""


class SourceError(VigieError):
    """A video source cannot be opened or stopped delivering frames."""


class AuthenticationError(VigieError):
    """No usable credentials: missing, unknown or revoked token (HTTP 401, unlike a role refusal's 403)."""


class PermissionDeniedError(VigieError):
    """The caller's role does not allow this action."""
