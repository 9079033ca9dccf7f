"""What overseer knows about programs: the knowledge tables of shell analysis.

Each table is data with a one-line reason per entry where the reason is not
obvious from the name: wrappers that run another command, shells,
interpreters and the options that make them run a code string, builtins that
change the shell's state, environment variables that change what runs,
network programs, the directories programs are trusted from. Teaching the
analyser about a program starts here (and, for its options, in the program
catalogue).
"""

from __future__ import annotations

import re


def word_set(text: str) -> frozenset[str]:
    """A set of names written as whitespace-separated words."""
    return frozenset(text.split())


WRAPPERS = word_set(
    """
    env nice ionice timeout nohup command builtin stdbuf time xargs setsid coproc
    busybox exec
    """
)

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "rbash", "fish", "yash"})

# Interpreters and the options that make them run a code string.
CODE_SHORT: dict[str, str] = {
    "python": "c",
    "pypy": "c",
    "perl": "eE",
    "ruby": "e",
    "node": "ep",
    "nodejs": "ep",
    "bun": "ep",
    "php": "rRBE",
    "lua": "e",
    "luajit": "e",
    "julia": "eE",
    "Rscript": "e",
    "osascript": "e",
    "pwsh": "c",
    "powershell": "c",
}
CODE_LONG: dict[str, frozenset[str]] = {
    "node": frozenset({"--eval", "--print"}),
    "nodejs": frozenset({"--eval", "--print"}),
    "bun": frozenset({"--eval", "--print"}),
    "julia": frozenset({"--eval", "--print"}),
    "pwsh": frozenset({"-c", "-command", "-encodedcommand", "-ec", "--command"}),
    "powershell": frozenset({"-c", "-command", "-encodedcommand", "-ec", "--command"}),
}
# Short options that take the next word (or the rest of the cluster) as value.
ARG_SHORT: dict[str, str] = {
    "python": "WXmQ",
    "pypy": "WXmQ",
    "perl": "ICdDFiIlmMox0",  # all attached (-Idir, -i.bak), see ATTACHED_ONLY
    "ruby": "CEFIKrTWx",
    "node": "r",
    "nodejs": "r",
}

# Interpreters whose option values are only ever attached (perl -i.bak -e ...).
ATTACHED_ONLY = frozenset({"perl"})

AWKS = frozenset({"awk", "gawk", "mawk", "nawk", "busybox-awk"})

PYTHON_RE = re.compile(r"^(?:python|pypy)(?:[0-9.]*)(?:-dbg)?$")

# Programs whose arguments are not file paths (their values are not confined).
NON_PATH_PROGRAMS = word_set(
    """
    echo printf true false pwd which type whoami uname seq sleep expr
    basename dirname id yes :
    """
)

# Builtins that change the persistent shell's behaviour for later commands.
STATE_BUILTINS: dict[str, str] = {
    "alias": "alias changes what later commands run",
    "unalias": "unalias changes what later commands run",
    "hash": "hash changes which program a name runs",
    "enable": "enable loads or switches shell builtins",
    "trap": "trap stores a command the shell runs later",
    "fc": "fc re-runs commands from the shell history",
    "bind": "bind can attach commands to key presses",
    "complete": "complete can attach commands to completion",
    "set": "set changes shell options for later commands",
    "shopt": "shopt changes shell options for later commands",
    "ulimit": "ulimit changes resource limits of the shell",
    "umask": "umask changes the permissions of later files",
    "history": "history edits the shell history",
    "disown": "disown detaches jobs from the shell",
}
EXEC_BUILTINS: dict[str, str] = {
    "eval": "eval runs a string as shell code",
    "source": "source runs a file as shell code in this shell",
    ".": ". runs a file as shell code in this shell",
    "exec": "exec replaces the shell (or rewires its descriptors)",
}
STRING_RUNNERS: dict[str, str] = {
    "watch": "watch runs its arguments as a shell command",
    "parallel": "parallel runs its arguments as shell commands",
    "script": "script runs a shell or a command string",
    "su": "su runs a command as another user",
    "runuser": "runuser runs a command as another user",
}
ASSIGNERS = frozenset({"read", "mapfile", "readarray", "getopts", "let", "printf"})

# Environment variables that make another program run (or run differently):
# assigning them is never auto-allowed.
_DANGEROUS_VARS = word_set(
    """
    PATH BASH_ENV ENV SHELLOPTS BASHOPTS PS0 PS1 PS2 PS3 PS4 PROMPT_COMMAND IFS CDPATH
    HOME GLOBIGNORE PAGER MANPAGER SYSTEMD_PAGER EDITOR VISUAL BROWSER LESSOPEN
    LESSCLOSE LESSKEY PYTHONSTARTUP PYTHONHOME PYTHONUSERBASE PYTHONINSPECT
    PYTHONBREAKPOINT PYTEST_ADDOPTS PYTEST_PLUGINS NODE_OPTIONS NODE_PATH PERL5OPT
    PERL5LIB PERLLIB RUBYOPT RUBYLIB JAVA_TOOL_OPTIONS _JAVA_OPTIONS SSH_ASKPASS
    SUDO_ASKPASS XDG_CONFIG_HOME RIPGREP_CONFIG_PATH GREP_OPTIONS TAR_OPTIONS MAKEFLAGS
    TMPDIR SHELL PWD OLDPWD
    GCONV_PATH PYTHONWARNINGS PYTHONPLATLIBDIR POSIXLY_CORRECT GNUPGHOME OPENSSL_CONF
    OPENSSL_ENGINES OPENSSL_MODULES LOCPATH NLSPATH EXECIGNORE BASH_COMPAT BASH_XTRACEFD
    """
)
# GCONV_PATH: glibc's iconv loads code from it (git log --encoding=X ran a
# workspace .so). PYTHONWARNINGS: python imports each filter's category
# module (error::evil.W imports evil). POSIXLY_CORRECT: GNU programs stop
# reading options at the first operand, so `tail f -n/../x` reads a file the
# grammar read as an option. GNUPGHOME, OPENSSL_*: configuration that names
# programs or modules to load.
_DANGEROUS_PREFIXES = ("LD_", "DYLD_", "GIT_", "BASH_FUNC_")
PATH_VARS = frozenset({"PYTHONPATH"})
# Set by the shell tool to keep commands safe (tools/_env.py): git ignores
# bare repositories it merely finds (a workspace directory holding HEAD,
# objects/, refs/ and a config with core.fsmonitor would run a program).
PROTECTIVE_VARS = frozenset({"GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0"})

# bash evaluates the operands of [[ -eq ]] (and friends) and of -v as
# arithmetic / variable names, and an array subscript in them runs command
# substitutions: [[ -v 'a[$(id)]' ]] runs id, quotes or not.
ARITH_CODE_RE = re.compile(r"\$[({]|`|\[[^\]]*\$")
ARITH_CODE_REASON = "{} holds code bash evaluates (an array subscript or substitution)"

# Network: programs that always reach the network, and (program ->
# subcommands) for those that do for some subcommands.
NETWORK_PROGRAMS = word_set(
    """
    curl wget ssh scp sftp ftp tftp telnet nc ncat netcat socat rsync aria2c http https
    xh ping ping6 dig nslookup host whois traceroute mosh lftp rclone aws gcloud az gh
    kubectl npx pipx
    """
)
NETWORK_SUBCOMMANDS: dict[str, frozenset[str]] = {
    # git: see git_network (subcommand and action decide)
    "pip": frozenset({"install", "download", "wheel", "search", "index"}),
    "uv": frozenset({"pip", "add", "sync", "lock", "tool", "run", "venv", "python", "publish"}),
    "poetry": frozenset({"add", "install", "update", "lock", "publish", "self"}),
    "pdm": frozenset({"add", "install", "update", "lock", "publish", "sync"}),
    "npm": frozenset(
        {"install", "i", "ci", "add", "update", "publish", "exec", "x", "audit", "outdated", "view"}
    ),
    "yarn": frozenset({"add", "install", "upgrade", "publish", "dlx", "up"}),
    "pnpm": frozenset({"add", "install", "i", "update", "up", "publish", "dlx"}),
    "bun": frozenset({"add", "install", "i", "update", "x", "publish"}),
    "gem": frozenset({"install", "update", "push", "fetch"}),
    "bundle": frozenset({"install", "update", "add"}),
    "cargo": frozenset({"install", "update", "fetch", "publish", "add", "search"}),
    "go": frozenset({"get", "install", "mod"}),
    "apt": frozenset({"install", "update", "upgrade", "full-upgrade", "download"}),
    "apt-get": frozenset({"install", "update", "upgrade", "dist-upgrade", "download", "source"}),
    "yum": frozenset({"install", "update", "upgrade"}),
    "dnf": frozenset({"install", "update", "upgrade"}),
    "brew": frozenset({"install", "update", "upgrade", "tap", "fetch"}),
    "conda": frozenset({"install", "update", "create"}),
    "mamba": frozenset({"install", "update", "create"}),
    "docker": frozenset({"pull", "push", "run", "build", "login", "search"}),
    "podman": frozenset({"pull", "push", "run", "build", "login", "search"}),
}


TRUSTED_DIRS = word_set(
    """
    /bin /usr/bin /usr/local/bin /sbin /usr/sbin /usr/local/sbin /opt/homebrew/bin
    """
)
"""Programs named by a path are only taken for what their name says (``env``,
``sh``, ``ls``...) when they live in one of these directories."""


# bash builtins and keywords: a bare name among these never runs a file found
# on PATH (the shadowing check in the rule engine skips them).
BASH_BUILTINS = word_set(
    """
    : . [ alias bg bind break builtin caller cd command compgen complete compopt continue
    declare dirs disown echo enable eval exec exit export false fc fg getopts hash help
    history jobs kill let local logout mapfile popd printf pushd pwd read readarray
    readonly return set shift shopt source suspend test time times trap true type
    typeset ulimit umask unalias unset wait [[ coproc
    """
)


def trusted_program(value: str) -> bool:
    """A bare name (looked up on PATH) or a path into a system directory."""
    if "/" not in value:
        return True
    return value.rsplit("/", 1)[0] in TRUSTED_DIRS


def program_name(value: str) -> str:
    """The name rules match a program by: the basename of its path."""
    return value.rsplit("/", 1)[-1]


def is_dangerous_var(name: str) -> bool:
    return name in _DANGEROUS_VARS or name.startswith(_DANGEROUS_PREFIXES)


# A shell variable a script may assign for itself (a loop variable, the
# target of ${x:=...}): lower-case names, the script's own by convention. Upper
# case is where bash and every program keep theirs (MAILPATH's message runs
# its command substitutions before a prompt, BASH_ALIASES defines aliases, an
# exported name changes every later command), and no list of those is ever
# complete; the few lower-case ones with a meaning are listed.
_PLAIN_VARIABLE = re.compile(r"^[a-z_][a-z0-9_]*$")
_LOWER_SPECIAL = word_set(
    "auto_resume histchars http_proxy https_proxy ftp_proxy all_proxy no_proxy socks_proxy"
)


def is_plain_variable(name: str) -> bool:
    """A name the shell and the programs it runs give no meaning to."""
    return bool(_PLAIN_VARIABLE.match(name)) and name not in _LOWER_SPECIAL


HARMLESS_TARGETS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty"})
DEV_FD_RE = re.compile(r"^/dev/fd/[0-9]+$")

FIND_DANGERS = {
    "-exec": "runs a command for every file",
    "-execdir": "runs a command for every file",
    "-ok": "runs a command for every file",
    "-okdir": "runs a command for every file",
    "-delete": "deletes files",
    "-fprint": "writes a file",
    "-fprint0": "writes a file",
    "-fprintf": "writes a file",
    "-fls": "writes a file",
}
GIT_HARMLESS_GLOBAL = word_set(
    """
    --no-pager -P --no-optional-locks --literal-pathspecs --glob-pathspecs --noglob-pathspecs
    --icase-pathspecs --no-replace-objects --no-lazy-fetch --no-advice
    """
)
GIT_DANGEROUS_OPTIONS = {
    "--output": "writes a file",
    "--ext-diff": "runs an external diff program",
    "--textconv": "runs text conversion programs",
    "--upload-pack": "runs a program",
    "--receive-pack": "runs a program",
    "--exec": "runs a program",
    "--open-files-in-pager": "runs a pager command",
    "--config": "changes git configuration",
    "--run": "runs a program",
    "--filters": "runs the clean/smudge filter programs",
}
# awk programs that may run commands, write or read other files, or read the
# environment: system(), pipes (not ||), getline, ARGV/ARGC rewrites (which
# change the input files, also through gawk's SYMTAB), gawk's @load/@include
# and indirect calls (@f()), /inet files. Output redirection in print/printf
# (not comparisons) is found by ``awkscript``.
AWK_DANGER = re.compile(
    r"system|getline|(?<!\|)\|(?!\|)|ENVIRON|ARGV|ARGC|PROCINFO|SYMTAB|FUNCTAB"
    r"|close\s*\(|fflush|@|/inet"
)


# Programs that run code from the workspace: a build file, a script, a test
# suite, a package's scripts. Without a sandbox they ask, whatever the rules
# say (the code may be something the agent just wrote). Interpreters given a
# code string are findings of their own; pytest and python are in the
# catalogue.
RUNS_CODE: dict[str, str] = {
    name: why
    for names, why in [
        ("make gmake bmake ninja cmake meson scons just rake ant mvn gradle", "runs a build file"),
        ("tox nox hatch pdm poetry pipenv uv", "runs the project's tasks or scripts"),
        ("npm npx yarn pnpm bun deno node nodejs", "runs JavaScript or package scripts"),
        ("cargo go dotnet swift", "builds and runs the project's code"),
        ("jest vitest mocha karma phpunit rspec", "runs the project's tests"),
        ("ruby perl php lua luajit Rscript julia tclsh java", "runs a script"),
        ("sh bash dash zsh ksh mksh ash rbash fish yash", "runs a shell script"),
        ("pytest py.test", "runs the project's tests, which execute code from the workspace"),
    ]
    for name in names.split()
}
