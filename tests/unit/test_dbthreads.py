"""The socket's database hop (clarion.dbthreads): off the event loop, on a pool of threads, and a
publish made inside it still runs on the caller's loop, where the hub and the broker live."""

import asyncio
import threading

import pytest
from asgiref.sync import async_to_sync

from clarion.dbthreads import db_sync_to_async


async def test_the_call_runs_off_the_loop_thread_and_its_result_and_errors_come_back():
    loop_thread = threading.get_ident()
    assert await db_sync_to_async(threading.get_ident)() != loop_thread

    def refuse():
        raise LookupError("nope")

    with pytest.raises(LookupError, match="nope"):
        await db_sync_to_async(refuse)()


async def test_async_to_sync_inside_the_call_runs_on_the_callers_loop():
    caller_loop = asyncio.get_running_loop()

    async def where_am_i():
        return asyncio.get_running_loop()

    ran_on = await db_sync_to_async(lambda: async_to_sync(where_am_i)())()
    assert ran_on is caller_loop


async def test_calls_do_not_wait_for_each_other():
    both_inside = threading.Barrier(2, timeout=5)
    await asyncio.gather(db_sync_to_async(both_inside.wait)(), db_sync_to_async(both_inside.wait)())


async def test_it_decorates_methods():
    class Reader:
        factor = 3

        @db_sync_to_async
        def times(self, value):
            return self.factor * value

    assert await Reader().times(5) == 15
