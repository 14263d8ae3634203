"""The error tree. Each class says what the caller or the operator should do about it.

One handler in ``app.main`` maps these to HTTP answers: a JSON body with a machine-readable
``code``, a human ``message`` and, where one field is at fault, its name in ``field``.
"""


class AppError(Exception):
    """Base of every error Tradewire raises on purpose."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class IngestError(AppError):
    """A request could not be taken in. The sender must change the request."""

    status_code = 400
    code = "bad_request"


class AuthenticationFailed(IngestError):
    """Missing or unknown credentials. Check the token in the webhook URL or the API key."""

    status_code = 401
    code = "unauthenticated"


class PayloadTooLarge(IngestError):
    """The body is larger than the limit. Shorten the alert message."""

    status_code = 413
    code = "payload_too_large"


class SignalParseError(IngestError):
    """The body is not a signal in any dialect we know. ``field`` names the offending field.

    The raw body is still recorded as an ``invalid`` signal; fix the alert message and resend.
    """

    status_code = 422
    code = "invalid_signal"


class NotFound(AppError):
    """The requested record does not exist."""

    status_code = 404
    code = "not_found"


class ConfigError(AppError):
    """The configuration is wrong. The message names the key; fix the file and restart."""

    code = "config_error"


class ServiceUnavailable(AppError):
    """PostgreSQL or Redis cannot be reached. Retry later; nothing was recorded."""

    status_code = 503
    code = "service_unavailable"


class VenueError(AppError):
    """A venue call failed. Subclasses say whether to retry."""

    status_code = 502
    code = "venue_error"


class TemporaryVenueError(VenueError):
    """Network error, rate limit or maintenance. Safe to retry a read; an order is in doubt."""

    code = "venue_unavailable"


class OrderRejected(VenueError):
    """The venue (or the paper venue) refused the order: terminal, never retried.

    Requires the operator to fix the cause (funds, size, symbol, credentials).
    """

    code = "order_rejected"


class InvalidTransition(AppError):
    """An order was asked to move between two states the state table does not link.

    A bug or a stale event; the order keeps its state.
    """

    code = "invalid_transition"
