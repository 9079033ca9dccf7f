"""The program catalogue, part 3: git's read-only subcommands.

Only subcommands that read are here; any other (``add``, ``commit``,
``push``...) is unknown to the table, so no allow rule covers it (ask and
deny rules still match it by prefix). Global options are read in
``checks`` first (``-C DIR``, ``--no-pager``...; ``-c`` and ``--git-dir``
are dangers). Options that write files or run programs (``--output``,
``--ext-diff``, ``--textconv``, ``grep -O``) are dangers.
"""

from __future__ import annotations

from .grammar import Parsed, Spec, spec
from .model import Part, Word

_WRITES = "writes a file"
_EXT = "runs an external diff program"
_TEXTCONV = "runs text conversion programs"

# Options shared by diff, log, show and stash show (the diff machinery).
DIFF_LONG = (
    "patch no-patch unified=N output=W output-indicator-new=T output-indicator-old=T "
    "output-indicator-context=T raw patch-with-raw indent-heuristic no-indent-heuristic minimal "
    "patience histogram anchored=T diff-algorithm=T stat==T compact-summary numstat shortstat "
    "dirstat==T cumulative dirstat-by-file==T summary patch-with-stat name-only name-status "
    "submodule==T color==T no-color color-moved==T no-color-moved color-moved-ws=T "
    "no-color-moved-ws word-diff==T word-diff-regex=T color-words==T no-renames rename-empty "
    "no-rename-empty check ws-error-highlight=T full-index binary abbrev==N break-rewrites==T "
    "find-renames==T find-copies==T find-copies-harder irreversible-delete diff-filter=T "
    "find-object=T pickaxe-all pickaxe-regex skip-to=T rotate-to=T relative==T text "
    "ignore-cr-at-eol ignore-space-at-eol ignore-space-change ignore-all-space "
    "ignore-blank-lines ignore-matching-lines=T inter-hunk-context=N function-context "
    "exit-code quiet ext-diff no-ext-diff textconv no-textconv ignore-submodules==T "
    "src-prefix=T dst-prefix=T no-prefix default-prefix line-prefix=T ita-invisible-in-index "
    "ita-visible-in-index stat-width=N stat-name-width=N stat-graph-width=N stat-count=N "
    "no-stat merge-base cached staged no-index ours theirs base combined dense-combined"
)
DIFF_SHORT = "p u s U:N z B::T M::T C::T D l:N S:T G:T O:R R a b w W X::T 1 2 3 0"
_DIFF_DANGERS = {"--output": _WRITES, "--ext-diff": _EXT, "--textconv": _TEXTCONV}

LOG_LONG = (
    "follow no-decorate decorate==T decorate-refs=T decorate-refs-exclude=T clear-decorations "
    "source mailmap no-mailmap use-mailmap full-diff log-size max-count=N skip=N since=T "
    "after=T since-as-filter=T until=T before=T author=T committer=T grep-reflog=T grep=T "
    "all-match invert-grep regexp-ignore-case basic-regexp extended-regexp fixed-strings "
    "perl-regexp remove-empty merges no-merges min-parents=N max-parents=N no-min-parents "
    "no-max-parents first-parent exclude-first-parent-only not all branches==T tags==T "
    "remotes==T glob=T exclude=T reflog alternate-refs single-worktree ignore-missing "
    "bisect stdin cherry-mark cherry-pick left-only right-only cherry walk-reflogs merge "
    "boundary simplify-by-decoration show-pulls full-history dense sparse simplify-merges "
    "ancestry-path==T date-order author-date-order topo-order reverse no-walk==T "
    "do-walk pretty==T format=T abbrev-commit no-abbrev-commit oneline encoding=T "
    "expand-tabs==N no-expand-tabs notes==T no-notes show-notes==T show-signature "
    "relative-date date=T parents children left-right graph show-linear-break==T "
    "count objects objects-edge unpacked object-names no-object-names timestamp "
    "header ignore-missing diff-merges=T no-diff-merges remerge-diff cc dd"
)
LOG_SHORT = "n:N i E F P L:T g c m t"


def _diff_like(name: str, why: str, extra_long: str = "", extra_short: str = "") -> Spec:
    return spec(
        name,
        why,
        short=f"{DIFF_SHORT} {extra_short}",
        long=f"{DIFF_LONG} {extra_long}",
        dangers=_DIFF_DANGERS,
        numeric=True,
    )


def _log_like(name: str, why: str) -> Spec:
    return spec(
        name,
        why,
        short=f"{DIFF_SHORT} {LOG_SHORT}",
        long=f"{DIFF_LONG} {LOG_LONG}",
        dangers=_DIFF_DANGERS,
        numeric=True,
    )


def _branch_list_only(part: Part, p: Parsed) -> None:
    if p.operands and not p.has("-l", "--list"):
        p.unknown.append("git branch NAME creates a branch")


def _tag_list_only(part: Part, p: Parsed) -> None:
    if p.operands and not p.has("-l", "--list"):
        p.unknown.append("git tag NAME creates a tag")


def _config_read_only(part: Part, p: Parsed) -> None:
    if not p.has("--get", "--get-all", "--get-regexp", "--list", "-l"):
        p.unknown.append("git config without --get or --list changes the configuration")
    if not p.has("--local", "--worktree"):
        # Without a scope git also reads ~/.gitconfig, $XDG_CONFIG_HOME/git
        # and /etc/gitconfig, and prints them: tokens in http.extraheader or
        # in url.<token>.insteadOf are outside the workspace.
        p.unknown.append(
            "git config without --local reads and prints the user's and the system's "
            "configuration, outside the workspace"
        )


_STASH_SHOW = _diff_like("show", "shows a stash entry", "include-untracked only-untracked", "")

GIT_SUBCOMMANDS: dict[str, Spec] = {
    s.name: s
    for s in [
        spec(
            "status",
            "shows the working tree status",
            short="s b v u::T z",
            long="short branch show-stash porcelain==T long verbose untracked-files==T "
            "ignore-submodules==T ignored==T column==T no-column ahead-behind "
            "no-ahead-behind renames no-renames find-renames==N null",
        ),
        _log_like("log", "shows commit logs"),
        _log_like("whatchanged", "shows commit logs with changes"),
        _log_like("show", "shows objects"),
        _log_like("rev-list", "lists commits"),
        spec(
            "shortlog",
            "summarises commit logs",
            short="n s e c w::T",
            long="numbered summary email committer format=T group=T w==T " + LOG_LONG,
            dangers={},
        ),
        _diff_like("diff", "shows changes"),
        spec(
            "blame",
            "shows who changed each line",
            short="b c e f l n p s t w L:T C::N M::N S:R",
            long="root show-stats progress no-progress incremental porcelain line-porcelain "
            "date=T contents=R reverse=T first-parent encoding=T abbrev==N ignore-rev=T "
            "ignore-revs-file=R color-lines color-by-age show-name show-number "
            "show-email score-debug minimal",
            numeric=False,
        ),
        spec(
            "annotate",
            "shows who changed each line",
            short="b c e f l n p s t w L:T C::N M::N",
            long="root show-stats incremental porcelain line-porcelain date=T contents=R "
            "reverse=T encoding=T abbrev==N",
        ),
        spec(
            "rev-parse",
            "resolves names of revisions and repository paths",
            short="q",
            long="abbrev-ref==T short==N verify quiet show-toplevel git-dir show-prefix "
            "show-cdup is-inside-work-tree is-bare-repository is-inside-git-dir "
            "absolute-git-dir git-common-dir symbolic symbolic-full-name all branches==T "
            "tags==T remotes==T glob=T exclude=T default=T since=T after=T until=T "
            "before=T sq sq-quote not show-object-format==T "
            "show-superproject-working-tree shared-index-path path-format=T git-path=T "
            "local-env-vars revs-only no-revs flags no-flags prefix=T keep-dashdash "
            "stop-at-non-option disambiguate=T",
            args="T*",
        ),
        spec(
            "ls-files",
            "lists tracked files",
            short="c d o i s u k m z t v f x:T X:R",
            long="cached deleted modified others ignored stage directory no-empty-directory "
            "unmerged killed resolve-undo exclude=T exclude-from=R exclude-per-directory=T "
            "exclude-standard error-unmatch with-tree=T full-name recurse-submodules "
            "abbrev==N debug eol deduplicate sparse format=T",
        ),
        spec(
            "ls-tree",
            "lists a tree object",
            short="d r t l z",
            long="long name-only name-status object-only full-name full-tree abbrev==N format=T",
            args="T R*",
        ),
        spec(
            "describe",
            "names a commit after a tag",
            long="all tags contains abbrev=N candidates=N exact-match debug long match=T "
            "exclude=T always first-parent dirty==T broken==T",
            args="T*",
        ),
        spec(
            "grep",
            "searches tracked files (grep -O runs a pager program: a danger)",
            short="a i I v w h H E G P F n l L z o c p W e:T f:R q r O::T A:N B:N C:N m:N",
            long="text ignore-case invert-match word-regexp full-name extended-regexp "
            "basic-regexp perl-regexp fixed-strings line-number column "
            "files-with-matches name-only files-without-match null only-matching count "
            "color==T no-color break heading show-function function-context threads=N "
            "max-depth=N max-count=N recursive no-recursive cached untracked no-index "
            "exclude-standard no-exclude-standard recurse-submodules quiet and or not "
            "all-match open-files-in-pager==T textconv no-textconv",
            args="T R*",
            first_from="-e -f",
            dangers={
                "-O": "runs a pager program",
                "--open-files-in-pager": "runs a pager program",
                "--textconv": _TEXTCONV,
            },
            numeric=True,
        ),
        spec(
            "cat-file",
            "shows repository objects",
            short="t s e p Z",
            long="batch==T batch-check==T batch-command==T batch-all-objects buffer unordered "
            "allow-unknown-type follow-symlinks textconv filters path=T",
            dangers={"--textconv": _TEXTCONV, "--filters": "runs the clean/smudge filter programs"},
            args="T T?",
        ),
        spec(
            "merge-base",
            "finds a common ancestor",
            short="a",
            long="all octopus independent is-ancestor fork-point",
            args="T*",
        ),
        spec(
            "name-rev",
            "names revisions after refs",
            long="tags refs=T exclude=T all annotate-stdin name-only no-undefined always",
            args="T*",
        ),
        spec(
            "show-ref",
            "lists refs",
            short="d s q",
            long="head heads branches tags dereference hash==N verify abbrev==N quiet "
            "exclude-existing==T exists",
            args="T*",
        ),
        spec(
            "for-each-ref",
            "lists refs with a format",
            long="count=N sort=T format=T color==T shell perl python tcl points-at=T "
            "merged==T no-merged==T contains==T no-contains==T ignore-case omit-empty "
            "exclude=T",
            args="T*",
        ),
        spec(
            "check-ignore",
            "says whether paths are ignored",
            short="q v n z",
            long="quiet verbose non-matching no-index",
        ),
        spec(
            "count-objects",
            "counts loose objects",
            short="v H",
            long="verbose human-readable",
            args="",
        ),
        spec(
            "stash",
            "lists or shows stashes",
            subcommands={
                "list": _log_like("list", "lists stash entries"),
                "show": _STASH_SHOW,
            },
        ),
        spec(
            "remote",
            "lists remotes (remote show -n reads no network)",
            short="v",
            long="verbose",
            subcommands={"show": spec("show", "shows a remote", short="n", args="T*")},
            sub_optional=True,
        ),
        spec(
            "config",
            "reads the repository's own configuration (--local with --get or --list)",
            short="l z",
            # --includes is left out: an include.path may name a file outside.
            long="get get-all get-regexp list show-origin show-scope name-only null type=T "
            "bool int bool-or-int path expiry-date default=T no-includes local worktree",
            args="T? T?",
            check=_config_read_only,
        ),
        spec(
            "tag",
            "lists tags (with -l)",
            short="l n::N i",
            long="list sort=T contains==T no-contains==T merged==T no-merged==T points-at==T "
            "format=T color==T ignore-case column==T no-column omit-empty",
            args="T*",
            check=_tag_list_only,
        ),
        spec(
            "branch",
            "lists branches (with no name, or -l)",
            short="a r v l i",
            long="all remotes verbose list show-current no-color color==T merged==T "
            "no-merged==T sort=T contains==T no-contains==T points-at=T format=T "
            "column==T no-column ignore-case omit-empty abbrev==N no-abbrev",
            args="T*",
            check=_branch_list_only,
        ),
    ]
}


def _git_cwd(part: Part, p: Parsed) -> None:
    # git finds its repository from the current directory (or -C DIR).
    p.reads.append(Word(".", ".", True))


GIT = Spec(
    "git",
    "git's read-only subcommands (global options are read in checks)",
    subcommands=GIT_SUBCOMMANDS,
    posix=True,
    check=_git_cwd,
)
