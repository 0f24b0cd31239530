"""`python3 -m inspectr`: the same as the `inspectr` command."""

from .cli import main

main()
