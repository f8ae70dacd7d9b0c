"""Canonical JSON: sorted keys, no spaces, non-ASCII kept — the one encoding the audit trail hashes and the JSON
columns store. Standard library only (the audit check's worker processes import it)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any


def _no_default(o: Any) -> Any:
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def _python_encoder(value: Any, _level: int) -> list[str]:
    return [json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))]


# called as encoder(value, 0) -> chunks of text. The C encoder json.dumps itself uses, built once instead of once
# per call (json.dumps builds one each time): the same text as
# json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")), without the check for cycles
encoder: Callable[[Any, int], Iterable[str]]
try:
    from _json import encode_basestring as _c_encode_basestring
    from _json import make_encoder as _c_make_encoder
except ImportError:  # pragma: no cover - CPython always has it
    encoder = _python_encoder
else:
    encoder = _c_make_encoder(None, _no_default, _c_encode_basestring, None, ":", ",", True, False, True)


def canonical_json(value: Any) -> str:
    """``value`` as canonical JSON text."""
    return "".join(encoder(value, 0))
