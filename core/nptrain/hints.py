"""Did-you-mean helpers for error messages.

A leaf module (standard library only) so that any layer, the registry included, can suggest a near
name without importing the config package.
"""
from __future__ import annotations

import difflib
from typing import Optional, Sequence


def suggest(word: str, choices: Sequence[str]) -> Optional[str]:
    """The choice closest to ``word`` when one is close enough to be a typo, else None."""
    hits = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return hits[0] if hits else None


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """``" (did you mean 'x'?)"`` for a near choice, ``""`` when there is none."""
    near = suggest(word, choices)
    return f" (did you mean {near!r}?)" if near else ""
