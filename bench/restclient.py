"""A minimal keep-alive HTTP/1.1 client (h11 on asyncio streams) for Clarion's REST API.

A pool of a few connections lets paced requests overlap when one is slow (a 100/s schedule
must not stall behind a single slow insert), without opening a connection per request,
which would time connection set-up instead of the API.
"""

import asyncio

import h11
import orjson


class HttpConnection:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None
        self.h11 = None

    async def _open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.h11 = h11.Connection(our_role=h11.CLIENT)

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = self.h11 = None

    async def request(self, method: str, target: str, headers: list, body: bytes) -> tuple[int, bytes]:
        reused = self.writer is not None
        if not reused:
            await self._open()
        try:
            return await self._exchange(method, target, headers, body)
        except (ConnectionError, h11.RemoteProtocolError, asyncio.IncompleteReadError):
            self.close()
            if not reused:
                raise
            # The server closed an idle keep-alive connection (uvicorn does after 5 s): the
            # request never reached it, so one retry on a fresh connection is safe.
            await self._open()
            return await self._exchange(method, target, headers, body)

    async def _exchange(self, method, target, headers, body):
        conn = self.h11
        all_headers = [("Host", f"{self.host}:{self.port}"), ("Content-Length", str(len(body))), *headers]
        self.writer.write(conn.send(h11.Request(method=method, target=target, headers=all_headers))
                          + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
        status, chunks = None, []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await self.reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("server closed the connection")
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        else:
            self.close()
        return status, b"".join(chunks)


class HttpPool:
    def __init__(self, host: str, port: int, size: int = 8, headers: list | None = None):
        self.host, self.port = host, port
        self.headers = headers or []
        self.idle: list[HttpConnection] = []
        self.slots = asyncio.Semaphore(size)

    async def post_json(self, target: str, obj, timeout: float = 30.0, headers: list | None = None
                        ) -> tuple[int, bytes]:
        """POST ``obj``; ``headers`` replace the pool's own (another user's token, say)."""
        async with self.slots:
            conn = self.idle.pop() if self.idle else HttpConnection(self.host, self.port)
            try:
                result = await asyncio.wait_for(
                    conn.request("POST", target, [("Content-Type", "application/json"),
                                                  *(self.headers if headers is None else headers)],
                                 orjson.dumps(obj)), timeout)
            except BaseException:
                conn.close()
                raise
            self.idle.append(conn)
            return result

    def close(self):
        for conn in self.idle:
            conn.close()
        self.idle.clear()
