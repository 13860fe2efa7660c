"""Small C kernels for the hot path, compiled on first use with the system C compiler.

Some per-batch work is a tight loop that numpy can only express with sorts or many
small calls (walking 283 trees per row; finding each row's previous occurrence of a
value). Those loops live as C source next to their Python twin and are compiled
once per machine into a private cache directory (``<tmp>/fraudstream-native-<uid>``,
about a second with ``cc -O3``), then called through :mod:`ctypes` on numpy
buffers. Every kernel has a pure numpy / library fallback with the same results,
used when no compiler is available (a warning is logged once per kernel), so the
package never depends on one; the tests compare both.

Example:
    >>> import ctypes
    >>> lib = load_kernel("doc", "int twice(int x) { return 2 * x; }",
    ...                   {"twice": ([ctypes.c_int], ctypes.c_int)})
    >>> lib is None or lib.twice(21) == 42
    True
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# No -ffast-math: NaN tests and float32 rounding must stay bit-exact with the twins.
FLAGS = ("-O3", "-std=c99", "-ffp-contract=off", "-shared", "-fPIC")

_loaded: dict[str, ctypes.CDLL | None] = {}
# Per-call memo keyed by the source text itself: Python caches a str's hash, so this
# lookup is cheap where the sha256 digest below would hash the whole source each call.
_by_source: dict[tuple[str, str, tuple[str, ...]], ctypes.CDLL | None] = {}


def load_kernel(
    name: str,
    source: str,
    signatures: dict[str, tuple[list[Any], Any]],
    flags: tuple[str, ...] = FLAGS,
) -> ctypes.CDLL | None:
    """The compiled ``source`` with ``signatures`` (function -> (argtypes, restype)), or None.

    Built once per process and source (cached on disk per machine and user); None,
    with one warning, when there is no C compiler or the build fails.
    """
    memo = (name, source, flags)
    if memo in _by_source:
        return _by_source[memo]
    digest = hashlib.sha256((source + " ".join(flags)).encode()).hexdigest()[:16]
    key = f"{name}-{digest}"
    if key in _loaded:
        return _loaded[key]
    lib: ctypes.CDLL | None = None
    try:
        lib = ctypes.CDLL(str(_compile(key, source, flags)))
        for fn, (argtypes, restype) in signatures.items():
            getattr(lib, fn).argtypes = argtypes
            getattr(lib, fn).restype = restype
    except (OSError, AttributeError, subprocess.SubprocessError) as exc:
        log.warning("native kernel %s unavailable (%s): using the numpy twin", name, exc)
        lib = None
    _loaded[key] = _by_source[memo] = lib
    return lib


def _compile(key: str, source: str, flags: tuple[str, ...]) -> Path:
    cache = Path(tempfile.gettempdir()) / f"fraudstream-native-{os.getuid()}"
    cache.mkdir(mode=0o700, exist_ok=True)
    if cache.stat().st_uid != os.getuid():
        raise OSError(f"{cache} belongs to another user")
    lib = cache / f"{key}.so"
    if lib.is_file():
        return lib
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise OSError("no C compiler (cc, gcc, clang) on PATH")
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        src, out = Path(tmp) / f"{key}.c", Path(tmp) / f"{key}.so"
        src.write_text(source)
        cmd = [cc, *flags, "-o", str(out), str(src)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        out.replace(lib)  # atomic: a concurrent builder writes the same bytes
    return lib


def ptr(a: np.ndarray) -> int:
    """The address of a (contiguous) array's data, for a ``c_void_p`` argument."""
    return int(a.ctypes.data)
