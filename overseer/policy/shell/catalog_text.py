"""The program catalogue, part 1: files and text (coreutils and friends).

Each entry lists the options the program has that overseer knows to be
harmless or knows the meaning of (a file read, a file written); anything
else is unknown and asks (see ``grammar``). When you add an option, say
what its value is; when in doubt leave it out: an unknown option asks, a
wrong entry lets something through.
"""

from __future__ import annotations

from .grammar import Opt, Parsed, Spec, spec
from .model import Part

_FOLLOWS = Opt(follows_links=True)


def _all_text(s: Spec, part: Part, start: int) -> Parsed:
    """echo and printf: every word is text they print (their options too:
    bash's echo prints an option it does not know)."""
    p = Parsed(s, start=start)
    for k, w in enumerate(part.argv[start:], start):
        if w.literal:
            if w.glob:
                p.listed.append(w)  # echo ~/.ssh/* lists a directory
            continue
        if any(c in w.source for c in "*?["):
            # $HOME/.ssh/*: expanded, then globbed -- cannot be checked.
            p.unknown.append(f"{w.source[:40]} expands to names that cannot be checked")
        p.operands.append((k, w, "T"))
    return p


def _test_like(s: Spec, part: Part, start: int) -> Parsed:
    """test / [ EXPR ]: operators are text, every other word may be a path
    whose existence or type is probed."""
    p = Parsed(s, start=start)
    for k, w in enumerate(part.argv[start:], start):
        if w.literal and (
            w.value.startswith("-") or w.value in ("!", "(", ")", "]", "=", "==", "!=", "<", ">")
        ):
            continue
        p.operands.append((k, w, "R"))
        p.reads.append(w)
    return p


def _cd(s: Spec, part: Part, start: int) -> Parsed:
    p = Parsed(s, start=start)
    operands = []
    for k, w in enumerate(part.argv[start:], start):
        if w.literal and w.value in ("-L", "-P", "-e", "-@", "-LP", "-PL", "--"):
            continue
        if w.literal and w.value.startswith("-") and w.value != "-":
            p.unknown.append(f"{s.name} does not know the option {w.value}")
            continue
        operands.append((k, w))
    if len(operands) > 1:
        p.unknown.append(f"{s.name} takes one directory")
    for k, w in operands:
        p.operands.append((k, w, "R"))
        if w.literal and w.value == "-":
            continue  # cd -: a finding of its own (checks)
        if s.name == "pushd" and w.literal and w.value[:1] == "+":
            p.unknown.append("pushd +N goes to a directory of the stack, which cannot be checked")
            continue
        p.reads.append(w)
    return p


def _uniq_output(part: Part, p: Parsed) -> None:
    # uniq IN OUT writes OUT: a write, and a danger only a rule naming it covers.
    files = [(k, w) for k, w, _ in p.operands]
    if len(files) == 2:
        k, w = files[1]
        p.reads.remove(w)
        p.writes.append(w)
        p.dangers.append((k, "uniq writes its second file argument"))


def _date_set(part: Part, p: Parsed) -> None:
    for k, w, _ in p.operands:
        if not (w.literal and w.value.startswith("+")):
            p.dangers.append((k, "date with a time operand sets the system clock"))


def _diff_links(part: Part, p: Parsed) -> None:
    # diff -r follows the symlinks it meets (unless --no-dereference): a link
    # to /etc in one tree is compared, file by file, with the other.
    if p.has("-r", "--recursive") and not p.has("--no-dereference"):
        p.follows_links = True


def _checksum_list(part: Part, p: Parsed) -> None:
    # md5sum -c LIST reads every file LIST names (and says whether it matches).
    if p.has("-c", "--check"):
        for _, w, _ in p.operands:
            p.unknown.append(
                f"{p.spec.name} -c reads the files {w.source[:40]} names, which cannot be checked"
            )
        if not p.operands:
            p.unknown.append(f"{p.spec.name} -c reads the files its input names")


def _ls_links(part: Part, p: Parsed) -> None:
    p.follows_links = p.has("-L", "--dereference") and p.has("-R", "--recursive")


_CKSUM = "binary check tag text zero ignore-missing quiet status strict warn"

TEXT: list[Spec] = [
    spec(
        "ls",
        "lists directories",
        short="a A b B c C d f F g G h H i I:T k l L m n N o p q Q r R s S t T:N u U v w:N x X Z 1",
        long="all almost-all author escape block-size=T ignore-backups color==T directory dired "
        "classify==T file-type format=T full-time group-directories-first no-group "
        "human-readable si dereference-command-line dereference-command-line-symlink-to-dir "
        "hide=T hyperlink==T indicator-style=T inode ignore=T kibibytes dereference "
        "numeric-uid-gid literal hide-control-chars show-control-chars quote-name "
        "quoting-style=T reverse recursive size sort=T time=T time-style=T tabsize=N "
        "width=N context zero",
        check=_ls_links,
        cwd_default=True,
    ),
    spec("pwd", "prints the current directory", short="L P", long="logical physical", args=""),
    spec(
        "cat",
        "prints files",
        short="A b e E n s t T u v",
        long="show-all number-nonblank show-ends number squeeze-blank show-tabs show-nonprinting",
    ),
    spec(
        "head",
        "prints the first lines of files",
        short="c:N n:N q v z",
        long="bytes=N lines=N quiet silent verbose zero-terminated",
        numeric=True,
    ),
    spec(
        "tail",
        "prints the last lines of files",
        short="c:T f F n:T q s:N v z",
        long="bytes=T follow==T lines=T max-unchanged-stats=N pid=N quiet silent retry "
        "sleep-interval=N verbose zero-terminated",
        numeric=True,
    ),
    spec(
        "wc",
        "counts lines, words and bytes",
        short="c m l L w",
        long="bytes chars lines files0-from=L max-line-length words total=T zero-terminated",
    ),
    spec(
        "diff",
        "compares files",
        short="a b B d e E i I:T l n N p q r s t T u U:N w W:N x:T X:R y c C:N F:T",
        long="normal brief report-identical-files context==N unified==N ed rcs side-by-side "
        "left-column suppress-common-lines show-c-function show-function-line=T label=T "
        "expand-tabs initial-tab tabsize=N suppress-blank-empty paginate recursive "
        "no-dereference new-file unidirectional-new-file ignore-file-name-case "
        "no-ignore-file-name-case exclude=T exclude-from=R starting-file=T from-file=R "
        "to-file=R ignore-case ignore-tab-expansion ignore-trailing-space "
        "ignore-space-change ignore-all-space ignore-blank-lines ignore-matching-lines=T "
        "text strip-trailing-cr minimal horizon-lines=N speed-large-files color==T "
        "palette=T width=N",
        check=_diff_links,
    ),
    spec(
        "cmp",
        "compares two files byte by byte",
        short="b i:T l n:N s",
        long="print-bytes ignore-initial=T verbose bytes=N quiet silent",
        args="R R? N? N?",
    ),
    spec(
        "comm",
        "compares two sorted files",
        short="1 2 3 z",
        long="check-order nocheck-order output-delimiter=T total zero-terminated",
        args="R R",
    ),
    spec(
        "sort",
        "sorts lines",
        short="b c C d f g h i k:T m M n o:W r R s S:T t:T T:W u V z",
        long="ignore-leading-blanks dictionary-order ignore-case general-numeric-sort "
        "ignore-nonprinting month-sort human-numeric-sort numeric-sort random-sort "
        "random-source=R reverse sort=T version-sort batch-size=N check==T "
        "compress-program=X debug files0-from=L key=T merge output=W stable buffer-size=T "
        "field-separator=T temporary-directory=W unique zero-terminated parallel=N",
        dangers={
            "-o": "writes a file",
            "--output": "writes a file",
            "--compress-program": "runs a program",
        },
    ),
    spec(
        "uniq",
        "filters repeated lines",
        short="c d D::T f:N i s:N u w:N z",
        long="count repeated all-repeated==T skip-fields=N skip-chars=N ignore-case unique "
        "check-chars=N zero-terminated group==T",
        args="R? R?",
        check=_uniq_output,
    ),
    spec(
        "cut",
        "prints selected fields",
        short="b:T c:T d:T f:T n s z",
        long="bytes=T characters=T delimiter=T fields=T complement only-delimited "
        "output-delimiter=T zero-terminated",
    ),
    spec(
        "tr",
        "translates characters",
        short="c C d s t",
        long="complement delete squeeze-repeats truncate-set1",
        args="T T?",
    ),
    spec(
        "nl",
        "numbers lines",
        short="b:T d:T f:T h:T i:N l:N n:T p s:T v:N w:N",
        long="body-numbering=T section-delimiter=T footer-numbering=T header-numbering=T "
        "line-increment=N join-blank-lines=N number-format=T no-renumber "
        "number-separator=T starting-line-number=N number-width=N",
    ),
    spec(
        "column",
        "formats text into columns",
        short="c:N d e J l:N L n:T N:T o:T O:T r:T R:T s:T t T:T E:T W:T H:T x",
        long="columns=N table table-columns=T table-name=T table-order=T table-right=T "
        "table-truncate=T table-noextreme=T table-noheadings table-wrap=T table-hide=T "
        "keep-empty-lines json tree=T tree-id=T tree-parent=T separator=T "
        "output-separator=T output-width=N fillrows",
    ),
    spec("tac", "prints files last line first", short="b r s:T", long="before regex separator=T"),
    spec("rev", "reverses lines", short="0", long="zero"),
    spec("fold", "wraps lines", short="b s w:N", long="bytes spaces width=N"),
    spec(
        "paste",
        "merges lines of files",
        short="d:T s z",
        long="delimiters=T serial zero-terminated",
    ),
    spec(
        "join",
        "joins lines of two files on a field",
        short="a:N e:T i j:N o:T t:T v:N z 1:N 2:N",
        long="check-order nocheck-order header ignore-case zero-terminated",
        args="R R",
    ),
    spec(
        "file",
        "tells what kind of data files hold",
        short="b d e:T E F:T f:L h i k l L m:R n N p P:T r s v z Z 0",
        long="brief mime mime-type mime-encoding exclude=T exclude-quiet=T extension "
        "files-from=L separator=T no-dereference dereference keep-going list magic-file=R "
        "no-pad preserve-date raw special-files uncompress uncompress-noreport print0",
    ),
    spec(
        "stat",
        "shows file status",
        short="c:T f L t",
        long="dereference file-system format=T printf=T terse cached=T",
    ),
    spec("which", "finds programs on PATH", short="a s", args="T*"),
    spec("type", "says what a command name is (bash builtin)", short="a f p P t", args="T*"),
    spec("command", "looks a command name up (command -v / -V)", short="p v V", args="T*"),
    spec("true", "does nothing, successfully", args="T*", abbrev=False),
    spec("false", "does nothing, unsuccessfully", args="T*", abbrev=False),
    spec("echo", "prints its arguments", custom=_all_text),
    spec("printf", "prints formatted text (-v is checked as an assignment)", custom=_all_text),
    spec(
        "basename",
        "strips directories from names",
        short="a s:T z",
        long="multiple suffix=T zero",
        args="T*",
    ),
    spec("dirname", "strips the last component of names", short="z", long="zero", args="T*"),
    spec(
        "realpath",
        "prints resolved paths",
        short="e m L P q s z",
        long="canonicalize-existing canonicalize-missing logical physical quiet relative-to=R "
        "relative-base=R strip no-symlinks zero",
    ),
    spec(
        "readlink",
        "prints symlink targets",
        short="f e m n q s v z",
        long="canonicalize canonicalize-existing canonicalize-missing no-newline quiet silent "
        "verbose zero",
    ),
    spec(
        "du",
        "estimates disk usage",
        short="0 a b B:T c d:N D h H k l m P s S t:T x X:R",
        long="null all apparent-size block-size=T bytes total max-depth=N dereference-args "
        "human-readable inodes dereference count-links no-dereference separate-dirs si "
        "summarize threshold=T time==T time-style=T exclude-from=R exclude=T "
        "one-file-system files0-from=L",
        extra={"-L": _FOLLOWS, "--dereference": _FOLLOWS},
        cwd_default=True,
    ),
    spec(
        "df",
        "reports file system usage",
        short="a B:T h H i k l P t:T T x:T",
        long="all block-size=T human-readable si inodes local no-sync output==T portability "
        "print-type sync total type=T exclude-type=T",
    ),
    spec(
        "tree",
        "lists directories as a tree",
        short="a d f i q N Q p u g s h D F v t c U r L:N P:T I:T o:W R H:T T:T C n J X S",
        long="noreport charset=T filelimit=N dirsfirst du si prune matchdirs ignore-case "
        "gitignore info timefmt=T sort=T inodes device noindent",
        dangers={"-o": "writes a file", "-R": "writes 00Tree.html files in every directory"},
        extra={"-l": _FOLLOWS},
        cwd_default=True,
    ),
    spec("md5sum", "prints checksums", long=_CKSUM, short="b c t z w", check=_checksum_list),
    spec("sha1sum", "prints checksums", long=_CKSUM, short="b c t z w", check=_checksum_list),
    spec("sha224sum", "prints checksums", long=_CKSUM, short="b c t z w", check=_checksum_list),
    spec("sha256sum", "prints checksums", long=_CKSUM, short="b c t z w", check=_checksum_list),
    spec("sha384sum", "prints checksums", long=_CKSUM, short="b c t z w", check=_checksum_list),
    spec("sha512sum", "prints checksums", long=_CKSUM, short="b c t z w", check=_checksum_list),
    spec("b2sum", "prints checksums", long=_CKSUM, short="b c t z w l:N", check=_checksum_list),
    spec(
        "cksum",
        "prints checksums",
        short="a:T l:N c w z",
        long="algorithm=T length=N raw untagged base64 debug check tag zero ignore-missing "
        "quiet status strict warn",
        check=_checksum_list,
    ),
    spec(
        "date",
        "prints the date",
        short="d:T f:R I::T r:R R s:T u",
        long="date=T file=R iso-8601==T resolution rfc-email rfc-3339=T reference=R set=T "
        "debug universal utc",
        args="T?",
        check=_date_set,
        dangers={"-s": "sets the system clock", "--set": "sets the system clock"},
    ),
    spec("whoami", "prints the user name", args=""),
    spec(
        "uname",
        "prints system information",
        short="a s n r v m p i o",
        long="all kernel-name nodename kernel-release kernel-version machine processor "
        "hardware-platform operating-system",
        args="",
    ),
    spec(
        "id",
        "prints user and group ids",
        short="a Z g G n r u z",
        long="context group groups name real user zero",
        args="T*",
    ),
    spec(
        "seq",
        "prints a sequence of numbers",
        short="f:T s:T w",
        long="format=T separator=T equal-width",
        args="N N? N?",
        numeric=True,
    ),
    spec("sleep", "waits", args="N+"),
    spec("test", "evaluates a condition (bash builtin)", custom=_test_like),
    spec("[", "evaluates a condition (bash builtin)", custom=_test_like),
    spec("cd", "changes the shell's directory", custom=_cd),
    spec("pushd", "changes the shell's directory", custom=_cd),
    spec(
        "tee",
        "copies its input to files (the files are writes)",
        short="a i p",
        long="append ignore-interrupts output-error==T",
        args="W*",
    ),
    spec(
        "strings",
        "prints printable strings in files",
        short="a d f n:N t:T e:T w s:T",
        long="all data print-file-name bytes=N radix=T encoding=T include-all-whitespace "
        "output-separator=T",
        numeric=True,
        at_files=True,
    ),
    spec(
        "od",
        "dumps files in octal and other formats",
        short="A:T j:T N:T t:T v w::N a b c d f i l o s x",
        long="address-radix=T skip-bytes=T read-bytes=T format=T output-duplicates width==N "
        "traditional endian=T strings==N",
    ),
    spec(
        "hexdump",
        "dumps files in hex",
        short="b c C d o x e:T f:R n:N s:N v L::T",
        long="one-byte-octal one-byte-char canonical two-bytes-decimal two-bytes-octal "
        "two-bytes-hex format=T format-file=R length=N skip=N no-squeezing color==T",
    ),
]
"""Inspection of files and text."""
