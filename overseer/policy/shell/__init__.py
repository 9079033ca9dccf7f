"""Shell command analysis with tree-sitter-bash.

A command string is parsed, never string-matched. ``analyse(command)`` returns
the *parts* of the command: every simple command it would run, wherever it
sits (after ``;`` ``&&`` ``||`` ``|`` ``&`` or a newline, inside ``( )``,
``{ }``, ``if``/``for``/``while`` bodies, command and process substitutions,
the literal script of ``sh -c '...'``). Each part carries:

- ``argv``: the program and arguments actually run, after unwrapping wrappers
  (``env VAR=x``, ``VAR=x`` prefixes, ``nice``, ``timeout``, ``nohup``,
  ``command``, ``builtin``, ``stdbuf``, ``time``, ``xargs``...) with quoting
  normalised (``r"m"``, ``'r'm``, ``\\rm`` and ``$'\\x72m'`` are all ``rm``);
- ``findings``: what analysis found that no rule may auto-allow;
- ``dangers``: dangerous options an allow rule only covers when its own
  command prefix names that option;
- ``redirects`` and ``writes``: writes the policy judges with its write rules;
- ``path_args``: arguments to resolve and confine to the workspace.

The modules, one concept each:

- ``model``: the result types (Word, Part, Finding...) and the limits;
- ``words``: parsing and decoding bash words (quoting, ANSI-C, globs, braces);
- ``programs``: the knowledge tables (wrappers, shells, interpreters, state
  builtins, dangerous variables, network programs...);
- ``walk``: the tree walk that turns a command into parts (``analyse``);
- ``unwrap``: wrappers and ``sh -c``;
- ``checks``: per-program findings, dangers and path arguments;
- ``options``, ``sedscript``: helpers for reading options and sed scripts.

The analysis is pure (no file system access) and cached per command string;
resolving paths against a workspace happens later, in the rule engine.
"""

from __future__ import annotations

from .model import (
    MAX_COMMAND_CHARS,
    MAX_DEPTH,
    MAX_GLOB_WORDS,
    MAX_PARTS,
    Analysis,
    Danger,
    Decision,
    Finding,
    Part,
    Redirect,
    Word,
)
from .programs import program_name, trusted_program
from .sedscript import sed_script_danger
from .walk import analyse, shell_parts
from .words import decode_ansi_c

__all__ = [
    "MAX_COMMAND_CHARS",
    "MAX_DEPTH",
    "MAX_GLOB_WORDS",
    "MAX_PARTS",
    "Analysis",
    "Danger",
    "Decision",
    "Finding",
    "Part",
    "Redirect",
    "Word",
    "analyse",
    "decode_ansi_c",
    "program_name",
    "sed_script_danger",
    "shell_parts",
    "trusted_program",
]
