"""The test suite; its folders mirror the source tree (compiler/language, compiler/commands, flows/…)."""

from pathlib import Path

# The project root, for tests that run commands in it or read its files (independent of how deep a test lives).
ROOT = Path(__file__).resolve().parents[1]
