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


def is_secret_name(name: str) -> bool:
    return name.startswith("OVERSEER_") or bool(_SECRET.search(name))


def command_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """overseer's environment, filtered, with the non-interactive settings."""
    env = {k: v for k, v in os.environ.items() if not is_secret_name(k)}
    env.update(QUIET)
    if extra:
        env.update(extra)
    return env
