"""Loading policy files: TOML -> pydantic validation -> compiled rules ->
inline examples checked.

Any problem is one ``PolicyError`` whose message names the file, the line
(when it can be found) and the problem, e.g.::

    my.toml:14: rule 'git-read': unknown key 'comand' (did you mean 'command'?)

Shipped policies are addressed by name (``default``, ``strict``); anything
else is a path.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import PolicyError
from ..toolapi import Facts
from .paths import check_glob
from .prefix import parse_command_spec, parse_flags
from .rule import Rule
from .rules import RulePolicy

SHIPPED = ("default", "strict")

EXAMPLE_WORKSPACE = Path("/overseer-policy-examples/workspace")
"""Where inline examples pretend to run. It does not exist, so resolving a
path never meets a symlink and examples give the same answer everywhere."""

WRITE_TOOL_WORDS = (
    "write",
    "edit",
    "create",
    "delete",
    "remove",
    "move",
    "rename",
    "patch",
    "apply",
)
PATH_ARG_KEYS = (
    "path",
    "file",
    "file_path",
    "filename",
    "paths",
    "files",
    "dest",
    "destination",
    "target",
)

Risk = Literal["read_only", "destructive", "open_world", "privileged", "writes_tests", "runs_code"]


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class ExampleSpec(BaseModel):
    """An example call: ``{tool = "write_file", args = {path = "tests/x.py"}}``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    tool: str = "shell"
    command: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    reads: list[str] | None = None
    writes: list[str] | None = None
    network: list[str] | None = None
    risk: list[Risk] = Field(default_factory=list)
    cwd: str | None = None
    # Examples run as in a session with the bubblewrap sandbox unless they say "none".
    sandbox: Literal["bwrap", "none"] = "bwrap"

    _listify = field_validator("reads", "writes", "network", "risk", mode="before")(_listify)


class RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1)
    decision: Literal["allow", "ask", "deny"]
    reason: str = ""
    tool: list[str] | None = None
    command: Any = None
    flags: list[str] | None = None
    regex: str | None = None
    paths: list[str] | None = None
    reads: list[str] | None = None
    writes: list[str] | None = None
    network: bool | None = None
    risk: list[Risk] | None = None
    any_arguments: bool = False
    match: list[str | ExampleSpec] = Field(default_factory=list)
    not_match: list[str | ExampleSpec] = Field(default_factory=list)

    _listify = field_validator(
        "tool", "flags", "paths", "reads", "writes", "risk", "match", "not_match", mode="before"
    )(_listify)


class PolicySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str | None = None
    description: str = ""
    default: Literal["allow", "ask", "deny"] = "ask"
    rules: list[RuleSpec] = Field(default_factory=list)


RULE_KEYS = tuple(RuleSpec.model_fields)
TOP_KEYS = tuple(PolicySpec.model_fields)


# --------------------------------------------------------------------------
# Locating problems in the source


_RULES_HEADER = re.compile(r"^\s*\[\[\s*rules\s*\]\]\s*(?:#.*)?$")
_ANY_HEADER = re.compile(r"^\s*\[")


class _Locator:
    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.starts = [i for i, line in enumerate(self.lines) if _RULES_HEADER.match(line)]

    def _range(self, index: int) -> tuple[int, int] | None:
        if index >= len(self.starts):
            return None
        start = self.starts[index]
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.lines)
        # stop at the next table header of another kind
        for j in range(start + 1, end):
            if _ANY_HEADER.match(self.lines[j]) and not self.lines[j].lstrip().startswith("[["):
                end = j
                break
        return start, end

    def key_line(self, key: str, rule: int | None = None) -> int | None:
        pat = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
        if rule is None:
            end = self.starts[0] if self.starts else len(self.lines)
            for j in range(end):
                if _ANY_HEADER.match(self.lines[j]):
                    break
                if pat.match(self.lines[j]):
                    return j + 1
            return None
        rng = self._range(rule)
        if rng is None:
            return self.key_line("rules")
        for j in range(*rng):
            if pat.match(self.lines[j]):
                return j + 1
        return rng[0] + 1

    def text_line(self, needle: str, rule: int, after_key: str) -> int | None:
        rng = self._range(rule)
        if rng is None:
            return None
        start = (self.key_line(after_key, rule) or rng[0] + 1) - 1
        for candidate in (needle, needle.replace("\\", "\\\\").replace('"', '\\"')):
            for j in range(start, rng[1]):
                if candidate and candidate in self.lines[j]:
                    return j + 1
        return start + 1


def _fmt(source: str, line: int | None, message: str) -> str:
    return f"{source}:{line}: {message}" if line else f"{source}: {message}"


def _rule_label(raw_rules: Any, index: int) -> str:
    name = None
    if (
        isinstance(raw_rules, list)
        and index < len(raw_rules)
        and isinstance(raw_rules[index], dict)
    ):
        name = raw_rules[index].get("name")
    return f"rule {name!r}" if isinstance(name, str) and name else f"rule #{index + 1}"


def _suggest(key: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _validation_message(
    err: dict[str, Any], raw: dict[str, Any], loc_: _Locator, source: str
) -> str:
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    given = err.get("input")
    if loc and loc[0] == "rules" and len(loc) >= 2 and isinstance(loc[1], int):
        index = loc[1]
        label = _rule_label(raw.get("rules"), index)
        key = str(loc[2]) if len(loc) > 2 else ""
        line = loc_.key_line(key, index) if key else loc_.key_line("name", index)
        if kind == "extra_forbidden":
            problem = f"unknown key {key!r}{_suggest(key, RULE_KEYS)}"
        elif kind == "missing":
            problem = f"missing required key {key!r}"
        elif kind == "literal_error" and key == "decision":
            problem = f"decision must be allow, ask or deny (got {given!r})"
        elif kind == "literal_error" and key == "risk":
            problem = f"risk must be one of read_only, destructive, open_world, privileged, writes_tests, runs_code (got {given!r})"
        else:
            where = ".".join(
                str(x) for x in loc[2:] if not (isinstance(x, str) and x in ("str", "ExampleSpec"))
            )
            problem = f"{where}: {err.get('msg', 'invalid')} (got {given!r})"
        return _fmt(source, line, f"{label}: {problem}")
    key = str(loc[0]) if loc else ""
    line = loc_.key_line(key) if key else None
    if kind == "extra_forbidden":
        problem = f"unknown top-level key {key!r}{_suggest(key, TOP_KEYS)}"
    elif kind == "literal_error" and key == "default":
        problem = f"default must be allow, ask or deny (got {given!r})"
    else:
        problem = f"{key}: {err.get('msg', 'invalid')} (got {given!r})"
    return _fmt(source, line, problem)


# --------------------------------------------------------------------------
# Building


def facts_from_args(tool: str, args: Any) -> Facts:
    """Facts for a call described only by its arguments (CLI and examples).

    - an argument ``command`` (a string) is a shell command to analyse;
    - path arguments (``path``, ``file``, ``file_path``, ``paths``, ``dest``...)
      are *writes* when the tool's name says it changes files (contains write,
      edit, create, delete, remove, move, rename, patch or apply) and *reads*
      otherwise.
    """
    facts = Facts()
    if not isinstance(args, dict):
        return facts
    command = args.get("command")
    if isinstance(command, str):
        facts.commands.append(command)
    values: list[str] = []
    for key in PATH_ARG_KEYS:
        v = args.get(key)
        if isinstance(v, str):
            values.append(v)
        elif isinstance(v, list):
            values.extend(x for x in v if isinstance(x, str))
    writes = any(word in tool.lower() for word in WRITE_TOOL_WORDS)
    (facts.writes if writes else facts.reads).extend(values)
    return facts


def example_call(example: str | ExampleSpec) -> tuple[str, dict[str, Any], Facts]:
    if isinstance(example, str):
        return "shell", {"command": example}, Facts(commands=[example], sandbox="bwrap")
    args = dict(example.args)
    facts = facts_from_args(example.tool, args)
    if example.command is not None:
        facts.commands = [example.command]
        args.setdefault("command", example.command)
    if example.reads is not None:
        facts.reads = list(example.reads)
    if example.writes is not None:
        facts.writes = list(example.writes)
    if example.network is not None:
        facts.network = list(example.network)
    facts.risk = list(example.risk)
    facts.cwd = example.cwd
    facts.sandbox = example.sandbox
    return example.tool, args, facts


def describe_example(example: str | ExampleSpec) -> str:
    if isinstance(example, str):
        return example
    return example.model_dump_json(exclude_defaults=True)


@dataclass
class ExampleResult:
    rule: str
    kind: str  # "match" | "not_match"
    example: str
    ok: bool
    decision: str
    deciding_rule: str | None
    reason: str
    line: int | None = None

    def message(self, source: str) -> str:
        decided = f"the policy says {self.decision} (rule {self.deciding_rule or 'default'}: {self.reason})"
        if self.kind == "match":
            problem = f"match example {self.example!r} should come out {self.expected} by this rule, but {decided}"
        else:
            problem = f"not_match example {self.example!r} should not come out {self.expected} by this rule, but {decided}"
        return _fmt(source, self.line, f"rule {self.rule!r}: {problem}")

    expected: str = ""


class LoadedPolicy(RulePolicy):
    """A RulePolicy that remembers its specs, so it can run its examples."""

    specs: list[RuleSpec]
    locator: _Locator

    def run_examples(self) -> list[ExampleResult]:
        results: list[ExampleResult] = []
        for index, spec in enumerate(self.specs):
            for kind, examples in (("match", spec.match), ("not_match", spec.not_match)):
                for example in examples:
                    tool, args, facts = example_call(example)
                    collected: set[str] = set()
                    verdict = self.decide_collect(tool, args, facts, EXAMPLE_WORKSPACE, collected)
                    hit = verdict.decision == spec.decision and spec.name in collected
                    text = describe_example(example)
                    needle = (
                        example if isinstance(example, str) else (example.command or example.tool)
                    )
                    results.append(
                        ExampleResult(
                            rule=spec.name,
                            kind=kind,
                            example=text,
                            ok=hit if kind == "match" else not hit,
                            decision=verdict.decision,
                            deciding_rule=verdict.rule,
                            reason=verdict.reason,
                            line=self.locator.text_line(needle, index, kind),
                            expected=spec.decision,
                        )
                    )
        return results


def _compile_rule(spec: RuleSpec, order: int) -> Rule:
    """The compiled Rule; a problem raises _KeyedError naming the rule key."""
    key = "command"
    try:
        prefixes = parse_command_spec(spec.command) if spec.command is not None else None
        key = "flags"
        flags = parse_flags(spec.flags) if spec.flags is not None else None
        key = "regex"
        regex = re.compile(spec.regex) if spec.regex is not None else None
        for key in ("paths", "reads", "writes"):
            for g in getattr(spec, key) or ():
                check_glob(g)
        key = "tool"
        for t in spec.tool or ():
            if not t:
                raise ValueError("empty tool name")
    except re.error as exc:
        raise _KeyedError(key, f"invalid regex {spec.regex!r}: {exc}") from None
    except ValueError as exc:
        raise _KeyedError(key, str(exc)) from None
    return Rule(
        name=spec.name,
        decision=spec.decision,
        reason=spec.reason,
        order=order,
        tools=tuple(spec.tool) if spec.tool is not None else None,
        prefixes=prefixes,
        flags=flags,
        regex=regex,
        paths=tuple(spec.paths) if spec.paths is not None else None,
        reads=tuple(spec.reads) if spec.reads is not None else None,
        writes=tuple(spec.writes) if spec.writes is not None else None,
        network=spec.network,
        risk=frozenset(spec.risk) if spec.risk is not None else None,
        any_arguments=spec.any_arguments,
    )


class _KeyedError(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def parse_policy(text: str, source: str = "<policy>", name: str | None = None) -> LoadedPolicy:
    """Validate and compile a policy's TOML text (examples not yet checked)."""
    locator = _Locator(text)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column \d+\)", msg)
        line = int(m.group(1)) if m else None
        problem = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg) if m else msg
        raise PolicyError(_fmt(source, line, f"invalid TOML: {problem}")) from None
    try:
        spec = PolicySpec.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        message = _validation_message(dict(errors[0]), raw, locator, source)
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        raise PolicyError(message) from None
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, rspec in enumerate(spec.rules):
        if rspec.name in seen:
            raise PolicyError(
                _fmt(
                    source,
                    locator.key_line("name", index),
                    f"rule {rspec.name!r}: duplicate rule name (first used by rule #{seen[rspec.name] + 1})",
                )
            )
        seen[rspec.name] = index
        try:
            rule = _compile_rule(rspec, index)
        except _KeyedError as exc:
            raise PolicyError(
                _fmt(
                    source,
                    locator.key_line(exc.key, index),
                    f"rule {rspec.name!r}: {exc.key}: {exc.message}",
                )
            ) from None
        rules.append(rule)
    policy = LoadedPolicy(
        rules, default=spec.default, name=name or spec.name or source, text=text, source=source
    )
    policy.specs = list(spec.rules)
    policy.locator = locator
    return policy


def check_examples(policy: LoadedPolicy) -> None:
    failures = [r for r in policy.run_examples() if not r.ok]
    if failures:
        first = failures[0]
        extra = f" (and {len(failures) - 1} more failing example{'s' if len(failures) > 2 else ''})"
        raise PolicyError(first.message(policy.source) + (extra if len(failures) > 1 else ""))


def shipped_path(name: str) -> Path:
    return Path(str(resources.files("overseer").joinpath("policies", f"{name}.toml")))


def read_policy_source(name_or_path: str | Path | None) -> tuple[str, str, str]:
    """(text, source label for messages, policy name)."""
    if name_or_path is None or (isinstance(name_or_path, str) and name_or_path in SHIPPED):
        name = name_or_path or "default"
        path = shipped_path(str(name))
        return path.read_text(encoding="utf-8"), f"{name}.toml", str(name)
    path = Path(name_or_path).expanduser()
    if not path.exists():
        shipped = ", ".join(SHIPPED)
        raise PolicyError(
            f"policy {str(name_or_path)!r} not found: not a shipped policy ({shipped}) and no such file"
        )
    if path.is_dir():
        raise PolicyError(f"{path}: is a directory, not a policy file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: cannot read policy file: {exc}") from None
    return text, str(path), str(path)


def read_policy_text(name_or_path: str | Path | None) -> str:
    """The TOML text of a shipped policy (by name) or a policy file."""
    return read_policy_source(name_or_path)[0]


def load_policy(name_or_path: str | Path | None = None, *, examples: bool = True) -> LoadedPolicy:
    """Load a shipped policy by name (None and "default", "strict") or a TOML
    file by path. Raises PolicyError (one line: file, line, problem) when the
    file is invalid or, with ``examples``, when an inline example fails."""
    text, source, name = read_policy_source(name_or_path)
    policy = parse_policy(text, source=source, name=name)
    if examples:
        check_examples(policy)
    return policy
