"""The log every stream shares (layer [2][3] of docs/architecture.md): stream heads, sequencing
with one lock per stream and many rows per lock, the relay's sweeps, parking, and reading a
stream from a cursor. It knows no domain and sends nothing itself: domain packages declare
their logs (``<domain>/log.py``), and the sending side installs a Pusher (clarion.apps).
"""
