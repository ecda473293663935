"""The commands behind `python -m compiler`: one module or package per command, the parser, the output; imports the language and the runtime."""
