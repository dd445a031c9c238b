"""sqlite-utils, imported without pandas and numpy.

sqlite-utils imports them whenever they are installed (the dashboard needs pandas), only to
convert pandas and numpy values handed to its ``insert``/``upsert``, which the console never
does. Loading them costs 250–400 ms of every command's start (``sidecar``, ``export``, each of
``up``'s children), so sqlite-utils is imported here with both hidden; a module that needs
pandas imports it as usual afterwards.
"""

from __future__ import annotations

import sys

_HIDDEN = [name for name in ("pandas", "numpy") if name not in sys.modules]
for _name in _HIDDEN:
    sys.modules[_name] = None  # type: ignore[assignment]  # "import pandas" fails: not loaded
try:
    import sqlite_utils  # noqa: E402
    import sqlite_utils.db  # noqa: E402, F401
    import sqlite_utils.migrations  # noqa: E402, F401
finally:
    for _name in _HIDDEN:
        del sys.modules[_name]

__all__ = ["sqlite_utils"]
