"""The language: loading automation and webhook files, the models, templates, references and diagnostics. Imports nothing from the runtime (flows) or the commands."""
