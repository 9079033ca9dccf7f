"""Shell analysis (overseer.policy.shell): parts, unwrapping, quoting,
findings, dangers, redirections. Pure: no policy, no file system."""

from __future__ import annotations

import pytest

from overseer.policy import analyse, shell_parts
from overseer.policy.shell import MAX_COMMAND_CHARS, decode_ansi_c


def argvs(command: str) -> list[list[str]]:
    return [p.argv_values for p in analyse(command).parts]


def kinds(command: str) -> set[str]:
    return {f.kind for p in analyse(command).parts for f in p.findings}


@pytest.mark.parametrize(
    "command",
    [
        "rm -rf x",
        'r"m" -rf x',
        "'r'm -rf x",
        "$'\\x72m' -rf x",
        "\\rm -rf x",
        "r\\m -rf x",
        "$'\\162m' -rf x",
        "r''m -rf x",
    ],
)
def test_quoting_is_normalised(command: str) -> None:
    assert argvs(command) == [["rm", "-rf", "x"]]


def test_ansi_c_decoding() -> None:
    assert decode_ansi_c(r"\x72\u006d\t\101\cA\e") == "rm\tA\x01\x1b"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("ls; pwd", [["ls"], ["pwd"]]),
        ("ls && pwd || true", [["ls"], ["pwd"], ["true"]]),
        ("ls | wc -l", [["ls"], ["wc", "-l"]]),
        ("ls & pwd", [["ls"], ["pwd"]]),
        ("ls\npwd", [["ls"], ["pwd"]]),
        ("(ls; pwd)", [["ls"], ["pwd"]]),
        ("{ ls; pwd; }", [["ls"], ["pwd"]]),
        ("if true; then ls; fi", [["true"], ["ls"]]),
        ("for f in a b; do cat $f; done", [["cat", "$f"]]),
        ("! ls", [["ls"]]),
    ],
)
def test_compound_commands_split_into_parts(command: str, expected: list[list[str]]) -> None:
    assert argvs(command) == expected


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        ("env A=1 B=2 git status", ["git", "status"]),
        ("A=1 git status", ["git", "status"]),
        ("nice -n 5 git status", ["git", "status"]),
        ("nice -5 git status", ["git", "status"]),
        ("timeout 10 git status", ["git", "status"]),
        ("timeout -s KILL -k 5 10 git status", ["git", "status"]),
        ("nohup git status", ["git", "status"]),
        ("command git status", ["git", "status"]),
        ("builtin cd src", ["cd", "src"]),
        ("stdbuf -oL git status", ["git", "status"]),
        ("time git status", ["git", "status"]),
        ("time -p git status", ["git", "status"]),
        ("xargs -0 -n1 git status", ["git", "status"]),
        ("env -i nice timeout 3 git status", ["git", "status"]),
        ("/usr/bin/env git status", ["git", "status"]),
        ("git --no-pager -C src log -1", ["git", "log", "-1"]),
    ],
)
def test_wrappers_are_unwrapped(command: str, argv: list[str]) -> None:
    parts = analyse(command).parts
    assert [p.argv_values for p in parts] == [argv]


def test_wrapper_levels_are_kept_for_deny_rules() -> None:
    (part,) = analyse("nice -n 5 env sudo id").parts
    assert part.argv_values == ["sudo", "id"]
    assert [[w.value for w in o] for o in part.outer] == [
        ["nice", "-n", "5", "env", "sudo", "id"],
        ["env", "sudo", "id"],
    ]


def test_command_v_is_a_lookup_not_a_wrapper() -> None:
    assert argvs("command -v python3") == [["command", "-v", "python3"]]


def test_untrusted_wrapper_path_is_not_unwrapped() -> None:
    # ./env is whatever the workspace put there
    assert argvs("./env ls") == [["./env", "ls"]]


def test_literal_sh_c_is_parsed_recursively() -> None:
    parts = analyse("bash -lc 'ls; rm -rf x'").parts
    assert [p.kind for p in parts] == ["wrapper", "command", "command"]
    assert [p.argv_values for p in parts[1:]] == [["ls"], ["rm", "-rf", "x"]]
    assert not parts[0].findings


@pytest.mark.parametrize(
    ("command", "kind"),
    [
        ("echo $(id)", "command-substitution"),
        ("echo `id`", "command-substitution"),
        ('echo "$(id)"', "command-substitution"),
        ("echo ${X:-$(id)}", "command-substitution"),
        ("diff <(ls) a", "process-substitution"),
        ("eval ls", "eval"),
        ("source x.sh", "source"),
        (". x.sh", "source"),
        ("exec ls", "exec"),
        ('bash -c "$X"', "dynamic-argument"),
        ("sh", "shell-stdin"),
        ("bash -s", "shell-stdin"),
        ("python3 -c 'print(1)'", "interpreter-code"),
        ("python3 -Bc 'print(1)'", "interpreter-code"),
        ("python3", "interpreter-stdin"),
        ("perl -ne 'print' f", "interpreter-code"),
        ("perl -pi -e 's/a/b/' f", "interpreter-code"),
        ("node -e 1", "interpreter-code"),
        ("ruby -e 1", "interpreter-code"),
        ("awk 'BEGIN{system(\"id\")}'", "interpreter-code"),
        ("awk '{print > \"f\"}' x", "interpreter-code"),
        ("cat <<EOF\nhi\nEOF", "heredoc"),
        ("ls 'unterminated", "parse-error"),
        ("ls &&", "parse-error"),
        ("f() { ls; }", "function-definition"),
        ("PATH=/tmp ls", "dangerous-variable"),
        ("export LD_PRELOAD=x", "dangerous-variable"),
        ("env PAGER=id git log", "dangerous-variable"),
        ("alias ls=rm", "shell-state"),
        ("trap 'rm x' EXIT", "shell-state"),
        ("$CMD x", "dynamic-program"),
        ("/bin/r? x", "dynamic-program"),
        ("echo hi; !!", "dynamic-program"),
        ("env -S 'rm x'", "env-split"),
        ("ls | xargs rm", "unknown-arguments"),
        ("xargs -I{} sh -c 'cat {}'", "shell-code"),
        ("cat {a,/etc/passwd}", "dynamic-argument"),
    ],
)
def test_findings(command: str, kind: str) -> None:
    assert kind in kinds(command), [p.findings for p in analyse(command).parts]


def test_substituted_commands_are_parts_too() -> None:
    parts = analyse("echo $(sudo rm -rf /)").parts
    assert ["sudo", "rm", "-rf", "/"] in [p.argv_values for p in parts]


@pytest.mark.parametrize(
    ("command", "option"),
    [
        ("find . -exec rm {} ;", "-exec"),
        ("find . -delete", "-delete"),
        ("find . -fprint x", "-fprint"),
        ("git -c core.pager=id log", "-c"),
        ("git log --output=x", "--output=x"),
        ("git diff --ext-diff", "--ext-diff"),
        ("git grep -O id x", "-O"),
        ("rg --pre=sh x", "--pre=sh"),
        ("sort -o out in", "-o"),
        ("sort -uo out in", "-uo"),
        ("sed -i s/a/b/ f", "-i"),
        ("sed 's/a/b/e' f", "s/a/b/e"),
        ("sed -n '1e id' f", "1e id"),
        ("uniq in out", "out"),
        ("tree -o out", "-o"),
    ],
)
def test_dangerous_options(command: str, option: str) -> None:
    (part,) = analyse(command).parts
    assert part.dangers, command
    assert part.argv_values[part.dangers[0].index] == option


@pytest.mark.parametrize(
    "command", ["find . -name x", "git log -5", "sort -n f", "sed -n 1,5p f", "uniq in", "rg -n x"]
)
def test_plain_options_are_not_dangerous(command: str) -> None:
    assert not analyse(command).parts[0].dangers


def test_redirections() -> None:
    (part,) = analyse("ls -la > out.txt 2>&1 < in.txt").parts
    assert [(r.kind, r.target.value) for r in part.redirects] == [
        ("write", "out.txt"),
        ("read", "in.txt"),
    ]
    # harmless targets are not writes
    (part,) = analyse("ls > /dev/null 2> /dev/stderr").parts
    assert part.redirects == []
    # words after a redirection are arguments (tree-sitter attaches them to it)
    (part,) = analyse("git log > /dev/null --output=x").parts
    assert part.argv_values == ["git", "log", "--output=x"]
    assert part.dangers


def test_tee_files_are_writes() -> None:
    (_, tee) = analyse("ls | tee -a log.txt /dev/null").parts
    assert [w.value for w in tee.writes] == ["log.txt"]


def test_network_detection() -> None:
    net = {
        tuple(p.argv_values): p.network
        for p in shell_parts("curl x; git push; git status; git remote -v; pip install y; pip list")
    }
    assert net == {
        ("curl", "x"): True,
        ("git", "push"): True,
        ("git", "status"): False,
        ("git", "remote", "-v"): False,
        ("pip", "install", "y"): True,
        ("pip", "list"): False,
    }


def test_path_arguments() -> None:
    (part,) = analyse("grep -rn --include=*.py -f/etc/x foo src ../up").parts
    assert [w.value for w in part.path_args] == ["/etc/x", "foo", "src", "../up"]
    (part,) = analyse("echo /etc/passwd").parts
    assert part.path_args == []  # echo's arguments are not paths
    (part,) = analyse("cd").parts
    assert [w.value for w in part.path_args] == ["~"]


def test_words_know_globs_and_tilde() -> None:
    (part,) = analyse("ls *.py '*.txt' ~/x '~/y' [ab]").parts
    flags = [(w.value, w.glob, w.tilde) for w in part.argv[1:]]
    assert flags == [
        ("*.py", True, False),
        ("*.txt", False, False),
        ("~/x", False, True),
        ("~/y", False, False),
        ("[ab]", True, False),
    ]


def test_limits_do_not_crash() -> None:
    assert "nul" in kinds("ls\x00rm")
    assert "too-long" in kinds("x" * (MAX_COMMAND_CHARS + 1))
    deep = "echo " + "$(" * 400 + "id" + ")" * 400
    assert kinds(deep) & {"nested-too-deep", "command-substitution"}
    nested = "(" * 2000 + "ls" + ")" * 2000
    assert analyse(nested).parts  # something to judge, no exception


def test_analysis_is_cached() -> None:
    assert analyse("ls -la") is analyse("ls -la")


@pytest.mark.parametrize(
    ("script", "dangerous"),
    [
        ("1,5p", False),
        ("s/foo/replacement/", False),
        ("s/ew/x/g", False),
        ("/foo/,/bar/p", False),
        ("$!N;s/\\n/ /", False),
        ("y/abc/xyz/", False),
        ("/re/I,+2d", False),
        ("{p;q}", False),
        ("a hello", False),
        ("1e id", True),
        ("e", True),
        ("w out", True),
        ("1wout", True),
        ("$r /etc/passwd", True),
        ("s/a/b/e", True),
        ("s|a|b|gw f", True),
        ("/re/I w f", True),
        ("/x/!e id", True),
        ("s/a/b", True),  # unreadable: treated as dangerous
    ],
)
def test_sed_script_scanner(script: str, dangerous: bool) -> None:
    from overseer.policy.shell import sed_script_danger

    assert (sed_script_danger(script) is not None) is dangerous


@pytest.mark.parametrize(
    ("program", "dangerous"),
    [
        ("{print $1}", False),
        ("NR > 1 { n++ } END { print n }", False),
        ("$3 > 100 || $2 < 5", False),
        ('{print > "f"}', True),
        ('{print | "sh"}', True),
        ('BEGIN{system("id")}', True),
        ('{ "id" | getline x }', True),
        ('BEGIN{f="system"; @f("id")}', True),
        ('BEGIN{ARGV[1]="/etc/passwd"; ARGC=2} {print}', True),
        ('{print ENVIRON["HOME"]}', True),
    ],
)
def test_awk_program_check(program: str, dangerous: bool) -> None:
    assert ("interpreter-code" in kinds(f"awk '{program}' f")) is dangerous


@pytest.mark.parametrize(
    "command",
    [
        "git log --outp=x",
        "git diff --ext-d",
        "sort --out=x y",
        "sort --compress=sh y",
        "sed --in s/a/b/ f",
        "date --se=1",
    ],
)
def test_gnu_long_option_abbreviations_are_caught(command: str) -> None:
    assert analyse(command).parts[0].dangers, command
