"""Blocking calls of the client on daemon threads.

Not asyncio.to_thread: asyncio.run() waits for the default executor's threads when it ends, so
a call in flight (a REST poll up to its timeout, a SQLite query waiting on a lock) held up
Ctrl+C of `clarion listen` for longer than a person waits. An abandoned call's answer is dropped.
"""

import asyncio
import threading


async def in_daemon_thread(function, *args):
    loop = asyncio.get_running_loop()
    answer = loop.create_future()

    def settle(outcome, failed):
        if not answer.done():
            (answer.set_exception if failed else answer.set_result)(outcome)

    def work():
        try:
            outcome, failed = function(*args), False
        except BaseException as error:  # handed to the awaiting task, raised there
            outcome, failed = error, True
        try:
            loop.call_soon_threadsafe(settle, outcome, failed)
        except RuntimeError:
            pass  # the loop is closed: nobody waits any more

    threading.Thread(target=work, name="clarion-client-call", daemon=True).start()
    return await answer
