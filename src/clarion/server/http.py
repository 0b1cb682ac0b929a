"""Django's ASGI handler with each request's sync thread taken from a pool, not started anew.

Django runs a request's sync code (middleware, DRF views, the ORM) on a thread of its own: its
ASGIHandler enters a fresh asgiref ``ThreadSensitiveContext`` per request, which starts one
thread for the request and another to join it at the end. With SQLite, whose connections are
per thread, every REST call also opened and initialised a new database connection. Together that
was about a tenth of a REST create's server CPU (issue 11, docs/benchmarks.md "Create rate").

Here each request still gets a thread to itself for its sync code (the rule Django relies on),
but the thread is an idle one from a small pool when there is one: its connection stays open for
the next request, as a threaded WSGI server's would. A recent asgiref (3.13 here) lets the caller
own the executor of a ``ThreadSensitiveContext``; with one that does not, this is Django's handler.

And a request crosses to its thread once, not three times. Django's ASGI handler runs the
request_started receivers, the (sync) middleware and view, and ``response.close()`` (the
request_finished receivers) in three separate trips to the sync thread and back, each a pair of
thread switches and a copy of the context: for a REST create that was about a tenth of the
server's CPU. Every view and middleware of Clarion is sync, so here the thread does all three in
one trip, as Django's WSGI handler would, and the event loop only sends the response. (Django's
handler also listens for a disconnect meanwhile to cancel an async view; a sync view runs to its
end either way.) Streaming responses are closed after they were sent, as in Django.
"""

import inspect
import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.core.handlers.asgi import get_script_prefix
from django.urls import set_script_prefix

# Idle threads kept for the next requests; a busier moment starts more and lets them go after.
IDLE_THREADS = 8

CAN_OWN_EXECUTOR = "executor" in inspect.signature(ThreadSensitiveContext.__init__).parameters


class RequestThread(ThreadPoolExecutor):
    """One worker thread, and whether work submitted to it is still running or queued."""

    def __init__(self):
        super().__init__(max_workers=1, thread_name_prefix="clarion-http")
        self._lock = threading.Lock()
        self._pending = 0

    def submit(self, fn, /, *args, **kwargs):
        with self._lock:
            self._pending += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _future):
        with self._lock:
            self._pending -= 1

    @property
    def idle(self) -> bool:
        with self._lock:
            return self._pending == 0


class PooledThreadASGIHandler(ASGIHandler):
    def __init__(self):
        super().__init__()
        self._idle: list[RequestThread] = []
        self._in_thread = BaseHandler()
        self._in_thread.load_middleware(is_async=False)

    async def handle(self, scope, receive, send):
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        try:
            response = await sync_to_async(self._respond, thread_sensitive=True)(scope, body_file)
            if response.streaming and not response.is_async:
                response.streaming_content = _read_on_the_request_thread(response.streaming_content)
            await self.send_response(response, send)
            if response.streaming:
                await sync_to_async(response.close, thread_sensitive=True)()
        finally:
            body_file.close()

    def _respond(self, scope, body_file):
        """On the request's thread: what Django's WSGI handler does for one request."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self._in_thread.get_response(request)
        response._handler_class = self.__class__
        if not response.streaming:
            response.content  # rendered here, on this thread, before request_finished
            response.close()
        return response

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)  # Django's error for it
        thread = self._idle.pop() if self._idle else RequestThread()
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
        finally:
            # A client that went away leaves its view running on the thread (a thread cannot be
            # cancelled): such a thread is not handed to the next request, which would queue.
            if thread.idle and len(self._idle) < IDLE_THREADS:
                self._idle.append(thread)
            else:
                thread.shutdown(wait=False)


# A file is read this many blocks (FileResponse's 4 KB each) per trip to the request's thread.
BLOCKS_PER_TRIP = 16


def _read_on_the_request_thread(chunks):
    """A sync streaming body (a static file: WhiteNoise answers with a FileResponse) read on the
    request's thread, a few blocks a trip. Django would iterate it on the event loop itself, a
    blocking read there, and warns on every such response that it "must consume synchronous
    iterators" (issue 12)."""
    chunks = iter(chunks)

    def take():
        return list(itertools.islice(chunks, BLOCKS_PER_TRIP))

    async def read():
        while batch := await sync_to_async(take, thread_sensitive=True)():
            for chunk in batch:
                yield chunk

    return read()


def http_application():
    """The Django ASGI app for the standalone server (sets Django up, as get_asgi_application)."""
    import django

    django.setup(set_prefix=False)
    return PooledThreadASGIHandler() if CAN_OWN_EXECUTOR else ASGIHandler()
