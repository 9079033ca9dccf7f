"""Error types. Every error a user can cause derives from OverseerError and
says what to do next; the CLI prints its message without a traceback."""

from __future__ import annotations


class OverseerError(Exception):
    """Base of every error overseer raises on purpose."""

    exit_code = 1


class UsageError(OverseerError):
    """The user asked for something that cannot be done as asked."""

    exit_code = 2


class LogError(OverseerError):
    """The audit log is missing, unreadable, corrupt or cannot be written."""

    exit_code = 2


class LogWriteError(LogError):
    """An event could not be made durable. Nothing may run after this."""


class PolicyError(OverseerError):
    """A policy file is invalid; the session must not start."""

    exit_code = 2


class ToolError(OverseerError):
    """A tool failed in a way the agent should hear about."""


class SessionNotFound(UsageError):
    """No session (or more than one) matches the given id or prefix."""
