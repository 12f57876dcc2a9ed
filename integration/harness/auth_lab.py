"""The htpasswd file of the authentication groups (``parity/groups_auth``): one user per accepted hash type.

Hashed here with the host's libxcrypt (``crypt_gensalt`` + ``crypt``), the library Debian bookworm's NGINX and
HAProxy use, so each scenario proves that both engines verify that hash type.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path



def _libcrypt() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    return lib


def hashed(prefix: str, password: str = "s3cret-pass") -> str:
    """``password`` hashed with the method of ``prefix`` (bcrypt at cost 5: the suite's requests stay fast)."""
    lib = _libcrypt()
    setting = lib.crypt_gensalt(prefix.encode(), 5 if prefix.startswith("$2") else 0, None, 0)
    return str(lib.crypt(password.encode(), setting).decode())


def write_htpasswd(path: Path) -> None:
    from integration.parity.auth_users import PASSWORD, USERS

    path.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(f"{user}:{hashed(prefix, PASSWORD)}\n" for user, prefix in USERS.items())
    path.write_text("# lab users, one per hash type\n" + lines)

