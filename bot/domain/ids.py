"""Short, copyable IDs shown to people (`r-9QXK7MA2`, `g-7K3FMA9Q`)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

# Crockford-like alphabet: no 0/O, 1/I/L confusion when people copy IDs by hand.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
# 30^8 ≈ 6.6e11 IDs: 2,000 of them collide once in ~330,000 runs (six characters: once in ~365), and
# an insert that does collide is retried with a fresh ID (bot.services.context.insert_request and
# insert_grant), so even a deployment that makes millions of IDs never fails on one. IDs made before
# (six characters) stay valid: the pattern takes 4 to 12.
_LENGTH = 8
ID_PATTERN = re.compile(r"^[rg]-[" + ALPHABET + r"]{4,12}$")

# Where IDs come from: given the kind ("r" or "g"), a fresh ID. Tests inject their own to force collisions.
IdSource = Callable[[str], str]


def random_id(kind: str) -> str:
    """A fresh random ID of a kind: `r` (request) or `g` (grant)."""
    return kind + "-" + "".join(secrets.choice(ALPHABET) for _ in range(_LENGTH))


def new_request_id() -> str:
    """A fresh request ID such as `r-9QXK7MA2`."""
    return random_id("r")


def new_grant_id() -> str:
    """A fresh grant ID such as `g-7K3FMA9Q`."""
    return random_id("g")


def normalise_id(text: str) -> str:
    """The canonical spelling of an ID a person typed (case and surrounding space forgiven)."""
    s = text.strip()
    if len(s) > 2 and s[1] == "-":
        return s[0].lower() + "-" + s[2:].upper()
    return s
