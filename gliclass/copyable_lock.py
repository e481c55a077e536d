"""A reentrant lock that objects shared by threads can hold and still be pickled and deep-copied."""

from __future__ import annotations

import threading
from typing import Any


class CopyableLock:
    """`threading.RLock` for `with` blocks; a pickle or deep copy of it is a new, unlocked lock (a
    plain lock cannot be pickled, and a copy must not share the original's lock)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()

    def __enter__(self) -> bool:
        return self._lock.__enter__()

    def __exit__(self, *exception: Any) -> None:
        self._lock.__exit__(*exception)

    def __reduce__(self) -> tuple[type[CopyableLock], tuple[()]]:
        return type(self), ()
