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


class RequestTimeout(IngestError):
    """The body did not arrive within the time limit (a stalled or very slow client).
    Nothing was stored; send the whole body promptly."""

    status_code = 408
    code = "request_timeout"


class ClientDisconnected(IngestError):
    """The client went away before sending the whole body. Nothing was stored; nobody hears
    this answer (it exists so the server can end the request without a traceback)."""

    status_code = 400
    code = "client_disconnected"


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


class VenueRefused(TemporaryVenueError):
    """The venue refused the request without acting on it: a rate limit (HTTP 429/418, ccxt
    ``RateLimitExceeded`` / ``DDoSProtection``) or a clock outside its window (``InvalidNonce``).

    Nothing was placed; Tradewire pauses and sends again with the same client order id. If it
    keeps happening, lower the order rate or fix the host's clock (NTP).
    """

    code = "venue_refused"


class DuplicateClientOrderId(VenueError):
    """The venue says an order with this client order id exists already.

    Tradewire looks the order up and records it instead of placing another; nothing to do.
    """

    status_code = 409
    code = "duplicate_client_order_id"


class VenueOrderNotFound(VenueError):
    """The venue has no order with this id (yet: right after a lost reply it may still appear).

    Not proof that an order was never placed; Tradewire waits out the grace window first.
    """

    status_code = 404
    code = "venue_order_not_found"


class VenueCredentialsRejected(VenueError):
    """The venue refused the account's API key, signature or permissions on a read.

    Check the environment variables named by the account's ``api_key_env`` / ``secret_env`` /
    ``password_env``, the key's permissions and IP allowlist, then restart the workers.
    """

    status_code = 502
    code = "venue_credentials_rejected"


class Conflict(AppError):
    """The request does not fit the record's current state (e.g. cancelling a filled order).

    Read the record again and decide; retrying the same request will not help.
    """

    status_code = 409
    code = "conflict"
