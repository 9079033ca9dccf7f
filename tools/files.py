"""The file tools, by their old home: ``read_file``, ``write_file``,
``edit_file``, ``list_dir``, ``search``.

They live in ``files_read``, ``files_write`` and ``files_search`` (shared
helpers in ``files_common``, the no-symlink opening in ``_beneath``); this
module keeps ``overseer.tools.files:ReadFileTool`` and friends importable for
installs whose entry points still name it.
"""

from __future__ import annotations

from .files_common import looks_like_test
from .files_read import ListDirArgs, ListDirTool, ReadFileArgs, ReadFileTool
from .files_search import SearchArgs, SearchTool
from .files_write import EditFileArgs, EditFileTool, WriteFileArgs, WriteFileTool

__all__ = [
    "EditFileArgs",
    "EditFileTool",
    "ListDirArgs",
    "ListDirTool",
    "ReadFileArgs",
    "ReadFileTool",
    "SearchArgs",
    "SearchTool",
    "WriteFileArgs",
    "WriteFileTool",
    "looks_like_test",
]
