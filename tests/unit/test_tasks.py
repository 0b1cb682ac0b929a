"""Stopping background tasks (clarion.realtime.tasks): a task that swallows a cancellation, as
asyncio.wait_for can on Python 3.11, is cancelled again until it ends, so a shutdown ends."""

import asyncio

from clarion.realtime.tasks import cancel_and_wait


async def test_a_task_that_swallows_a_cancel_is_cancelled_again_until_it_ends():
    swallowed = 0

    async def stubborn():
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # what wait_for may do when its future completes at the same moment

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    assert await cancel_and_wait(task)
    assert task.cancelled() and swallowed == 1


async def test_a_finished_or_absent_task_is_fine_and_a_failure_is_not_left_unretrieved():
    async def fails():
        raise RuntimeError("boom")

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)
    assert await cancel_and_wait(task) and await cancel_and_wait(None)
