"""The language: loading automation and webhook files, models, templates, references, diagnostics; imports neither the runtime nor the commands."""
