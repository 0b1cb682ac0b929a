"""Reaching readers who are not looking: email when a notification stays unread, digests, Web
Push to closed tabs, and a record of each (docs/delivery.md).

The path: the notification log -> ``planner`` (at due time, rows only for readers still unread)
-> ``Delivery`` rows -> ``worker`` (claims due rows, SKIP LOCKED) -> a channel (``email``,
``push``) -> the reader's inbox or browser.
"""
