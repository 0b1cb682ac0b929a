"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for the email tests.

It can be down (not listening) and come back on the same port, and it can hold a chosen
message at RCPT until released: the moment a worker is killed mid-batch.
"""

import asyncio
import email
import email.policy
import threading
import time

from aiosmtpd.controller import Controller

from tests.integration.harness import free_port


class Mailbox:
    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()
        self.hold_at = None  # hold the n-th RCPT (1-based) until released
        self.rcpts = 0
        self.holding = threading.Event()
        self.released = threading.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            self.rcpts += 1
            hold = self.hold_at is not None and self.rcpts == self.hold_at
        if hold:
            self.holding.set()
            while not self.released.is_set():
                await asyncio.sleep(0.05)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def with_subject(self, subject: str) -> list:
        with self.lock:
            return [m for m in self.messages if str(m["Subject"]).strip() == subject]

    def wait_for(self, subject: str, count: int = 1, timeout: float = 20.0) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.with_subject(subject)
            if len(found) >= count:
                return found
            time.sleep(0.1)
        return self.with_subject(subject)


class SmtpServer:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.mailbox = Mailbox()
        self.controller = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> "SmtpServer":
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.mailbox.released.set()
            self.controller.stop()
            self.controller = None
