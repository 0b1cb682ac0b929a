"""Collaboration rooms: persisted chat, and the ephemeral presence, typing and cursors around it."""
