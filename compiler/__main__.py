"""``python -m compiler``: the command line."""

import atexit
import gc

# Registered first, so it runs after every other exit handler (Prefect's log and event flushes,
# logging.shutdown): the collector then skips the interpreter's final pass over the millions of
# objects Prefect and pydantic leave behind, which took ~0.3 s of every command (measured).
atexit.register(gc.freeze)

from compiler.cli import main  # noqa: E402

raise SystemExit(main())
