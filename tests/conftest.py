import pytest

from tests.integration.harness import CLUSTER, SCALEOUT, ServerProcess, prepare_backend


def _backend_lacking(item) -> bool:
    if "cluster_only" in item.keywords:
        return not CLUSTER
    if item.get_closest_marker("embedded"):  # means something on SQLite only: the first pass runs it
        return SCALEOUT
    if item.get_closest_marker("once"):  # the same on every backend: the shorter, first pass runs it
        return SCALEOUT
    return "scaleout" in item.keywords and not SCALEOUT


def pytest_collection_modifyitems(config, items):
    # Scale-out tests are not skipped in the embedded pass: they are deselected, and the
    # second pass of scripts/test.sh runs them (cluster_only ones: the third, on a Redis
    # Cluster). Asking for them without the backend fails.
    selected = [item for item in items if not _backend_lacking(item)]
    deselected = [item for item in items if _backend_lacking(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


@pytest.fixture
def make_user(django_user_model):
    from clarion.roles import set_role

    def make(username, role=None, **extra):
        user = django_user_model.objects.create_user(username=username, password="pw-" + username, **extra)
        if role:
            set_role(user, role)
        return user

    return make


@pytest.fixture
def people(make_user):
    """Two students, an advisor and an admin: the university's cast."""
    return {
        "alice": make_user("alice", "student"),
        "bob": make_user("bob", "student"),
        "carol": make_user("carol", "advisor"),
        "dave": make_user("dave", "admin"),
    }


# -- real server processes (integration and browser tests) ---------------------------


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
