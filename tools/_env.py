"""The environment the agent's commands run with.

Commands inherit overseer's environment minus what the agent must not see:
credentials (the model provider's API key is in overseer's environment, and
an agent that can print it can leak it) and overseer's own settings (which
name the audit log's location). Pagers, colours and credential prompts are
turned off because nobody sits at the agent's terminal.
"""

from __future__ import annotations

import os
import re

# A name is secret-looking when one of its underscore-separated words is a
# credential word: GITHUB_TOKEN, OPENAI_API_KEY, AWS_SECRET_ACCESS_KEY, PGPASSWORD.
_SECRET = re.compile(
    r"(?i)(^|_)(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|PGPASSWORD|CREDENTIALS?|ACCESS_KEY|PRIVATE_KEY|AUTH_TOKEN)(_|$)"
)

QUIET = {
    "TERM": "dumb",  # no colours, no cursor movement, git/less behave as on a pipe
    "PAGER": "cat",
    "GIT_PAGER": "cat",
    "MANPAGER": "cat",
    "GIT_TERMINAL_PROMPT": "0",  # fail instead of waiting for a password
    "GIT_EDITOR": "true",  # `git commit` without -m must not open an editor
    "EDITOR": "true",
    "VISUAL": "true",
    "NO_COLOR": "1",
    "PYTHONUNBUFFERED": "1",  # stream test output as it happens
}


# Settings that change how bash and GNU programs read the words the policy
# judged, so that what runs is not what was read: CDPATH sends `cd etc` to
# /etc (the policy places it in the workspace), POSIXLY_CORRECT ends options
# at the first operand (`grep x f -e/../../etc/passwd` reads a file the
# policy read as a pattern), GLOBIGNORE and GLOBSORT change what a glob
# expands to. A user's shell may export them; the agent's must not inherit them.
MISREADING = frozenset(
    {"CDPATH", "POSIXLY_CORRECT", "GLOBIGNORE", "GLOBSORT", "BASHOPTS", "SHELLOPTS"}
)


def is_secret_name(name: str) -> bool:
    return name.startswith("OVERSEER_") or bool(_SECRET.search(name))


# git settings no repository config can override (command-line level): git
# does not use a bare repository it merely finds in the working directory (a
# workspace directory holding HEAD, objects/, refs/ and a config whose
# core.fsmonitor runs a program would otherwise be run by `git status`).
# The policy never allows unsetting these (env -u/-i, GIT_* assignments).
GIT_SAFETY = {"safe.bareRepository": "explicit"}


def _git_safety(env: dict[str, str]) -> None:
    try:
        count = int(env.get("GIT_CONFIG_COUNT", "0"))
    except ValueError:
        count = 0
    for key, value in GIT_SAFETY.items():
        env[f"GIT_CONFIG_KEY_{count}"] = key
        env[f"GIT_CONFIG_VALUE_{count}"] = value
        count += 1
    env["GIT_CONFIG_COUNT"] = str(count)


def command_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """overseer's environment, filtered, with the non-interactive settings."""
    env = {k: v for k, v in os.environ.items() if not is_secret_name(k) and k not in MISREADING}
    env.update(QUIET)
    _git_safety(env)
    if extra:
        env.update(extra)
    return env
