"""Helpers importable by tests (the root conftest's functions, re-exported)."""

from conftest import MODEL, SCORING, pid_alive, trace_lines, wait_for

__all__ = ["MODEL", "SCORING", "pid_alive", "trace_lines", "wait_for"]
