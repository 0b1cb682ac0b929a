"""ASGI applications of the shapes a host site writes, for the start-up check that the sockets
are served (tests/unit/test_checks.py)."""
