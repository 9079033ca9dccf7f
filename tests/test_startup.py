"""What a command's start-up imports: every CLI call (and every test that
runs one) pays for it. sqlite-utils (which loads numpy when installed) is
needed only to create a new audit log."""

from __future__ import annotations

import subprocess
import sys


def test_opening_an_existing_log_does_not_import_sqlite_utils(tmp_path) -> None:
    db = tmp_path / "audit.db"
    code = (
        "import sys\n"
        "from overseer.log import AuditLog\n"
        f"AuditLog({str(db)!r}).close()\n"  # creates the file: sqlite-utils is used
        "import overseer.cli\n"
        "print('sqlite_utils' in sys.modules)\n"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip()
        == "True"
    )
    reopen = (
        "import sys\n"
        "import overseer.cli\n"
        "from overseer.log import AuditLog\n"
        f"log = AuditLog({str(db)!r}); list(log.sessions()); log.close()\n"
        "print('sqlite_utils' in sys.modules, 'numpy' in sys.modules)\n"
    )
    res = subprocess.run([sys.executable, "-c", reopen], capture_output=True, text=True)
    assert res.stdout.strip() == "False False", res.stderr
