"""``python -m compiler``: the command line."""

from compiler.cli import main

raise SystemExit(main())
