import pytest

from tests.integration.harness import ServerProcess, prepare_backend



@pytest.fixture(scope="session")
def backend(tmp_path_factory):
    return prepare_backend(tmp_path_factory.mktemp("clarion-data"))


@pytest.fixture(scope="session")
def server(backend, tmp_path_factory):
    process = ServerProcess(backend, tmp_path_factory.mktemp("logs") / "server-a.log").start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def second_server(backend, tmp_path_factory):
    """A second process on the same PostgreSQL and Redis (scale-out tests only)."""
    process = ServerProcess(backend, tmp_path_factory.mktemp("logs") / "server-b.log").start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def tokens(server):
    return {name: server.token(name) for name in ("alice", "bob", "carol", "dave")}
