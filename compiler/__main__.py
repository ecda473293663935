"""``python -m compiler``: the command line."""

import atexit
import gc

# Registered first, so it runs after every other exit handler (Prefect's log and event flushes,
# logging.shutdown): the collector then skips the interpreter's final pass over the millions of
# objects Prefect and pydantic leave behind, which took ~0.3 s of every command (measured).
atexit.register(gc.freeze)

import sys  # noqa: E402

from compiler.commands.warm.client import run_warm  # noqa: E402

# A `run` is handed to the project's warm runner when one serves it (it has Prefect imported already);
# None: there is none, or it declined, and this process runs the command itself.
handed = run_warm(sys.argv[1:])
if handed is not None:
    raise SystemExit(handed)

from compiler.commands.cli import main  # noqa: E402

raise SystemExit(main())
