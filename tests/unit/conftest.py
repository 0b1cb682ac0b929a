import pytest


@pytest.fixture(autouse=True)
async def close_hub_after_test():
    """Each test runs on its own event loop; close that loop's hub (and its Redis
    connections) before the loop goes away."""
    yield
    from clarion.realtime import relay, timers
    from clarion.realtime.hub import close_hub

    # A relay left sweeping after its loop closes would hold a stream's lock for good.
    await relay.stop()
    await timers.stop()
    await close_hub()
    from clarion.realtime.shared_limits import close_shared_limits

    await close_shared_limits()


@pytest.fixture(autouse=True)
def fresh_shared_limits():
    from tests.limits_reset import forget_shared_limits

    forget_shared_limits()


@pytest.fixture(autouse=True)
def fresh_publish_breaker():
    """A test that fails a push must not leave the next test's pushes skipped."""
    from clarion.realtime import publish

    publish._breaker.succeeded()
    yield
    publish._breaker.succeeded()
