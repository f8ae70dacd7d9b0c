"""Spreadsheet cells that could run as formulas (CSV/formula injection) and their exact way back.

An export puts a ``'`` before any text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return — Excel, WPS and LibreOffice then show it as text instead of evaluating it — and also before a text that
already begins with ``'``, so that the quote added here can always be told apart from one typed by a user.
Reading a ledger removes one leading ``'`` exactly when it is followed by one of those characters or by another
``'``: every exported value reads back unchanged. (A hand-made ledger cell typed as ``'=…`` loses that quote, as
Excel itself treats a leading quote as a "this is text" mark.)
"""

from __future__ import annotations

from typing import Any

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_QUOTED = (*TRIGGERS, "'")


def neutralise(value: Any) -> Any:
    """An export's text cell made inert (other values unchanged)."""
    if isinstance(value, str) and value.startswith(_QUOTED):
        return "'" + value
    return value


def neutralise_column(values: list[Any]) -> list[Any]:
    return [("'" + v) if isinstance(v, str) and v.startswith(_QUOTED) else v for v in values]


def restore(value: Any) -> Any:
    """A ledger cell as it was before :func:`neutralise` (other values unchanged)."""
    if isinstance(value, str) and len(value) > 1 and value[0] == "'" and value[1] in _QUOTED:
        return value[1:]
    return value
