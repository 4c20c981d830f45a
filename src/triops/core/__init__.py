"""Core types shared by every layer: settings, errors, ids, the clock, principals, signals.

Nothing here imports any other part of triops.
"""
