"""Core messages speak Python; the CLI shows them in command-line words.

Errors raised by the library tell a Python user what to pass (``pass model=...``,
``lmbatch.resume('lmbjob_...')``). Shown by the CLI, the same advice must name the flag
or the command instead (``pass -m/--model``, ``lmbatch resume lmbjob_...``). Core keeps
one wording, with a small, regular Python vocabulary, and this module translates it:

* ``NAME=...``: a keyword argument. ``model``, ``provider``, ``store`` and ``timeout``
  have their own flags; any other name is a provider option, ``-O NAME=...``.
* ``reuse=False``: ``--fresh``; ``allow_unknown_model=True``: ``--allow-unknown-model``.
* ``hyperparameters['NAME']``: ``-P NAME``.
* ``the provider's `NAME` option``: the flag, as above.
* ``lmbatch.resume('ID')``: ``lmbatch resume ID``; ``retrieve('ID')``:
  ``lmbatch results ID``; ``cancel('ID')``: ``lmbatch cancel ID``;
  ``get_batch_operations('NAME')``: ``-p/--provider NAME``.
* ``(e.g. some_call(...))``: a Python example, dropped; so is the Python half of
  ``NAME=... in code, -O NAME=... on the command line`` and of
  ``retrieve('ID') (command line: lmbatch results ID)``.
* "the same invoke" (or ``invoke()``): "the same command".

Core messages that give advice should use these forms, so that the CLI can say them its
own way.
"""

from __future__ import annotations

import re

__all__ = ["OPTION_FLAGS", "cli_words"]

#: Keyword arguments of the Python API that have a flag of their own.
OPTION_FLAGS = {
    "model": "-m/--model",
    "provider": "-p/--provider",
    "store": "--store",
    "timeout": "--timeout",
}


def _flag(name: str) -> str:
    return OPTION_FLAGS.get(name, f"-O {name}=...")


_RULES: list[tuple[re.Pattern[str], str]] = [
    # A Python example in parentheses: the CLI's own help has examples of its own.
    (re.compile(r"\s*\(e\.g\. [\w.]+\([^()]*\)\)"), ""),
    # "NAME=... in code, -O NAME=... on the command line": only the second half applies.
    (re.compile(r"\b\w+=\.\.\. in code, "), ""),
    (re.compile(r"\blmbatch\.resume\('([^']+)'\)"), r"lmbatch resume \1"),
    # "retrieve('ID') (command line: lmbatch results ID)": the command line half.
    (re.compile(r"(?<![\w.])retrieve\('[^']+'\) \(command line: ([^)]*)\)"), r"\1"),
    (re.compile(r"(?<![\w.])retrieve\('([^']+)'\)"), r"lmbatch results \1"),
    (re.compile(r"(?<![\w.])cancel\('([^']+)'\)"), r"lmbatch cancel \1"),
    (re.compile(r"\b(?:lmbatch\.)?get_batch_operations\('([^']+)'[^()]*\)"), r"-p/--provider \1"),
    (re.compile(r"\bthe same invoke(?:\(\))?(?: \(or `lmbatch run`\))?"), "the same command"),
    (re.compile(r"\breuse=False\b"), "--fresh"),
    (re.compile(r"\ballow_unknown_model=True\b"), "--allow-unknown-model"),
    (re.compile(r"\bhyperparameters\['(\w+)'\]"), r"-P \1"),
]
_PROVIDER_OPTION = re.compile(r"\bthe provider's `(\w+)` option")
# Not after "-O ": translating twice changes nothing.
_KEYWORD = re.compile(r"(?<!-O )(?<![\w-])(\w+)=\.\.\.")


def cli_words(text: str) -> str:
    """``text`` with Python advice turned into command-line advice."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    text = _PROVIDER_OPTION.sub(lambda match: _flag(match.group(1)), text)
    return _KEYWORD.sub(lambda match: _flag(match.group(1)), text)
