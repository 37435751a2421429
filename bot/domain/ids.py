"""Short, copyable IDs shown to people (`r-91QX`, `g-7K3F`)."""

from __future__ import annotations

import re
import secrets

# Crockford-like alphabet: no 0/O, 1/I/L confusion when people copy IDs by hand.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
_LENGTH = 6
ID_PATTERN = re.compile(r"^[rg]-[" + ALPHABET + r"]{4,12}$")


def new_request_id() -> str:
    """A fresh request ID such as `r-91QXK7`."""
    return "r-" + "".join(secrets.choice(ALPHABET) for _ in range(_LENGTH))


def new_grant_id() -> str:
    """A fresh grant ID such as `g-7K3FMA`."""
    return "g-" + "".join(secrets.choice(ALPHABET) for _ in range(_LENGTH))


def normalise_id(text: str) -> str:
    """The canonical spelling of an ID a person typed (case and surrounding space forgiven)."""
    s = text.strip()
    if len(s) > 2 and s[1] == "-":
        return s[0].lower() + "-" + s[2:].upper()
    return s
