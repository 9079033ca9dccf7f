"""`python -m overseer` is the `overseer` command."""

from overseer.cli import main

main()
