"""htpasswd files: parsed and checked in Python, rendered by each engine.

Only hashes that NGINX (``auth_basic_user_file``: crypt(3) for everything but
its own ``$apr1$``/``{SHA}``/``{SSHA}``/``{PLAIN}``) and HAProxy (``userlist``
``user NAME password HASH``: crypt(3)) verify identically with Debian
bookworm's libxcrypt are accepted, each proven with real requests on both
binaries: sha512-crypt ``$6$``, sha256-crypt ``$5$``, bcrypt ``$2b$`` and
``$2y$``, yescrypt ``$y$`` (Debian's default). Refused, with the file and line:
plaintext and DES crypt (weak; NGINX would also take a plaintext line as a DES
hash), MD5 ``$1$`` and ``$apr1$`` (weak; HAProxy cannot verify ``$apr1$``),
``{SHA}``/``{SSHA}``/``{PLAIN}`` (unsalted or plain; HAProxy cannot verify
them) and ``$2a$`` (the bcrypt variant with the 8-bit bug: rehash as ``$2b$``).
Each hash must match its format exactly (anchored patterns), so nothing else
reaches a config. A user name is letters, digits and ``. _ @ -`` (no ':' or
whitespace). Empty lines and lines starting with '#' are skipped; a user may
appear once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_B64 = r"[./0-9A-Za-z]"
ACCEPTED = (
    ("sha512-crypt", re.compile(rf"\$6\$(?:rounds=[0-9]{{4,9}}\$)?{_B64}{{1,16}}\${_B64}{{86}}")),
    ("sha256-crypt", re.compile(rf"\$5\$(?:rounds=[0-9]{{4,9}}\$)?{_B64}{{1,16}}\${_B64}{{43}}")),
    ("bcrypt", re.compile(rf"\$2[by]\$(?:0[4-9]|[12][0-9]|3[01])\${_B64}{{53}}")),
    ("yescrypt", re.compile(rf"\$y\${_B64}{{1,16}}\${_B64}{{1,86}}\${_B64}{{43}}")),
)
_REFUSED = (
    ("$apr1$", "an Apache MD5 ($apr1$) hash, weak and not verified by HAProxy"),
    ("$1$", "an MD5-crypt ($1$) hash, weak"),
    ("$2a$", "a bcrypt $2a$ hash (the variant with the 8-bit bug): rehash as $2b$"),
    ("{SHA}", "an unsalted {SHA} hash, not verified by HAProxy"),
    ("{SSHA}", "a {SSHA} hash, not verified by HAProxy"),
    ("{PLAIN}", "a plaintext password"),
)
USER = re.compile(r"[A-Za-z0-9._@-]{1,64}")
_FIX = "use sha512-crypt ($6$, e.g. 'mkpasswd -m sha-512'), bcrypt ($2b$/$2y$, 'htpasswd -B') or yescrypt ($y$)"


@dataclass(frozen=True)
class HtpasswdProblem:
    line: int | None
    message: str


def parse_htpasswd(text: bytes) -> tuple[tuple[tuple[str, str], ...], list[HtpasswdProblem]]:
    """The (user, hash) entries of an htpasswd file, in file order, and every problem with its line."""
    problems: list[HtpasswdProblem] = []
    users: dict[str, str] = {}
    try:
        lines = text.decode("ascii").split("\n")
    except UnicodeDecodeError:
        return (), [HtpasswdProblem(None, "the file is not ASCII text")]
    for n, raw in enumerate(lines, start=1):
        line = raw.removesuffix("\r")
        if not line.strip() or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep:
            problems.append(HtpasswdProblem(n, "not a 'user:hash' line"))
        elif not USER.fullmatch(user):
            problems.append(HtpasswdProblem(n, f"user name {user!r} is not letters, digits and . _ @ - (at most 64)"))
        elif user in users:
            problems.append(HtpasswdProblem(n, f"user {user!r} appears twice"))
        else:
            why = hash_problem(hashed)
            if why:
                problems.append(HtpasswdProblem(n, f"user {user!r}: {why}"))
            else:
                users[user] = hashed
    if not users and not problems:
        problems.append(HtpasswdProblem(None, "the file names no user"))
    return tuple(users.items()), problems


def hash_problem(hashed: str) -> str | None:
    """Why a hash is refused (None: it is one of the accepted formats, exactly)."""
    if any(pattern.fullmatch(hashed) for _, pattern in ACCEPTED):
        return None
    for prefix, what in _REFUSED:
        if hashed.startswith(prefix):
            return f"{what}; {_FIX}"
    if hashed.startswith(("$6$", "$5$", "$2b$", "$2y$", "$y$")):
        return f"a malformed hash; {_FIX}"
    if re.fullmatch(rf"{_B64}{{13}}", hashed):
        return f"a DES crypt hash (or a plaintext password), weak; {_FIX}"
    return f"a plaintext password or an unknown hash; {_FIX}"
