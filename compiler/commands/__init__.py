"""The commands behind `python -m compiler`: one module or package per command, the parser and what they print. May import the language and the runtime."""
