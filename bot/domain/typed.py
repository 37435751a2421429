"""Text people typed, made safe to store and show: C0 control characters and lone surrogates removed."""

from __future__ import annotations

import re
from typing import Any

# C0 controls and DEL, except tab and newline; lone UTF-16 surrogates (JSON can carry them, UTF-8 cannot).
_UNWANTED = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")
_ONE_LINE = re.compile("[\t\n]")


def clean(text: str, *, multiline: bool = True) -> str:
    """`text` without control characters (PostgreSQL text cannot hold NUL); CR LF and lone CR become LF.
    With `multiline=False` tabs and newlines become spaces too."""
    text = _UNWANTED.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return text if multiline else _ONE_LINE.sub(" ", text)


def clean_tree(value: Any) -> Any:
    """Every string in a parsed JSON or form value `clean`ed (keys too), the structure kept."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(str(k)): clean_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_tree(v) for v in value]
    return value
