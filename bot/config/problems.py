"""Pydantic validation errors as short problem lines (`place: message`) that never echo much of a value."""

from __future__ import annotations

import reprlib
from typing import Any

from pydantic import ValidationError


def _short_repr() -> reprlib.Repr:
    """A reprlib.Repr that shows a few elements of a container and the start of a long text."""
    short = reprlib.Repr()
    short.maxlevel = 2
    short.maxtuple = short.maxlist = short.maxarray = short.maxdict = short.maxset = short.maxfrozenset = 4
    short.maxdeque = 4
    short.maxstring, short.maxlong, short.maxother = 60, 40, 60
    return short


_SHORT_REPR = _short_repr()


def got(value: Any) -> str:
    """A short repr of a value someone typed, for a problem line: never walks or prints more than a few
    elements of it, however big or deep it is (`repr()` of an alias-expanded list would not end)."""
    if value is None:
        return "nothing"
    try:
        text = _SHORT_REPR.repr(value)
    except ValueError:  # an int past Python's digit limit cannot even be printed
        text = "a number too big to show"
    return text if len(text) <= 60 else text[:57] + "..."


def key_text(key: Any) -> str:
    """A mapping key as it goes into a problem's place: as written when short, cut when long."""
    text = key if isinstance(key, str) else got(key)
    return text if len(text) <= 64 else text[:61] + "..."


def error_message(err: Any, *, show_input: bool = True) -> str:
    """One pydantic error (a dict from `ValidationError.errors()`) as a short human message."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    shown = f" (got {got(err.get('input'))})" if show_input else ""
    if kind == "missing":
        return "missing"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    if kind in ("string_type", "string_sub_type"):
        return f"must be text{shown}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be an integer{shown}"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number{shown}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false{shown}"
    if kind in ("list_type", "tuple_type"):
        return f"must be a list{shown}"
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        return f"must be a mapping{shown}"
    bounds = {
        "greater_than": ("gt", ">"),
        "greater_than_equal": ("ge", "≥"),
        "less_than": ("lt", "<"),
        "less_than_equal": ("le", "≤"),
    }
    if kind in bounds:
        key, sign = bounds[kind]
        limit = ctx.get(key)
        limit = int(limit) if isinstance(limit, float) and limit.is_integer() else limit
        return f"must be {sign} {limit}{shown}"
    msg = str(err.get("msg", kind))
    return (msg[:1].lower() + msg[1:]) + shown


def _place(prefix: str, loc: tuple[Any, ...]) -> str:
    """A pydantic loc tuple as a dotted place: ('roles', 'x', 'approvers', 1) -> roles.x.approvers[1]."""
    place = prefix
    for part in loc:
        if part == "[key]":  # a dict key that failed: the place is the key itself
            continue
        if isinstance(part, int):
            place += f"[{part}]"
        else:
            place = f"{place}.{key_text(part)}" if place else key_text(part)
    return place or "(top level)"


def validation_problems(exc: ValidationError, prefix: str = "") -> list[str]:
    """Every error of a ValidationError as `place: message`, places under `prefix`."""
    return [f"{_place(prefix, tuple(e['loc']))}: {error_message(e)}" for e in exc.errors()]

