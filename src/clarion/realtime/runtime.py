"""Whether this process serves sockets, which decides if an in-process layer can deliver."""

_serving = False


def mark_serving() -> None:
    global _serving
    _serving = True


def is_serving() -> bool:
    return _serving
