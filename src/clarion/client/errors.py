"""Why a client stopped. Everything else (a dropped socket, a restarting server) it retries."""


class ClientError(Exception):
    """Base class of the errors ``Client.events()`` raises when the client stops for good."""


class AuthenticationError(ClientError):
    """The server refused the credentials (4401), and a new token cannot fix it."""


class StreamClosed(ClientError):
    """The server closed the stream with a code that forbids reconnecting (4403, 4404)."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


class ConnectFailed(ClientError):
    """No working connection: the attempts ran out, or the server refused the handshake."""


class ActionQueueFull(ClientError):
    """Too many actions are waiting for a connection; raised to the caller of the action."""


def describe(error: BaseException) -> str:
    """A network failure in a few words, for a one-line message (socket and polling alike)."""
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
