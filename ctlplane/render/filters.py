"""Engine-specific escaping filters: the only way a model string is printed.

Model strings are already strict allow-list types; these filters are the
second wall. Each one quotes for its engine and *refuses* (raises
:class:`RenderError`) anything that quoting cannot make inert there: control
characters everywhere, ``$`` for NGINX (variable expansion inside quotes),
``'`` for HAProxy (no escape inside strong quotes), and anything but a safe
token for keepalived. A refusal is a bug or an attack, never a silent change.
Two more print a literal that the engine would otherwise read as a variable
or a format: ``nl`` (NGINX: each ``$`` becomes ``${ctl_dollar}``, a ``geo``
variable whose value is a lone dollar) and ``hf`` (HAProxy log-format: ``%``
doubled, ``'`` closed, escaped and reopened).
"""

from __future__ import annotations

import re

from ctlplane.errors import Finding, RenderError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_KEEPALIVED_SAFE = re.compile(r"[A-Za-z0-9_./:@+=,-]+")
# strings that quote as they are: no control character, nothing to escape or refuse (most values, by far)
_NGINX_PLAIN = re.compile(r'[^\x00-\x1f\x7f$"\\]*')
_HAPROXY_PLAIN = re.compile(r"[^\x00-\x1f\x7f']*")


def _refuse(engine: str, value: str, why: str) -> RenderError:
    return RenderError(f"refusing to print a value into {engine} config", [Finding(f"{why}: {value!r}", source=engine)])


def _text(engine: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _refuse(engine, repr(value), "not a string or integer")
    text = str(value)
    if _CONTROL.search(text):
        raise _refuse(engine, text, "control character")
    return text


def nginx_quote(value: object) -> str:
    """A double-quoted NGINX string: backslash and quote escaped; '$' refused (it would expand)."""
    if type(value) is str and _NGINX_PLAIN.fullmatch(value):
        return '"' + value + '"'
    text = _text("nginx", value)
    if "$" in text:
        raise _refuse("nginx", text, "'$' would expand as a variable")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


NGINX_DOLLAR = "ctl_dollar"  # geo $ctl_dollar { default "$"; } in the http block: a literal '$' in a value


def nginx_literal(value: object) -> str:
    """A double-quoted NGINX value printed literally: like ``nq``, each '$' written as ``${ctl_dollar}``."""
    text = _text("nginx", value)
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + quoted.replace("$", "${" + NGINX_DOLLAR + "}") + '"'


def haproxy_format_literal(value: object) -> str:
    """A HAProxy log-format argument printed literally: '%' doubled, strongly quoted ("'" as '\\'')."""
    text = _text("haproxy", value).replace("%", "%%")
    return "'" + text.replace("'", "'\\''") + "'"


def haproxy_quote(value: object) -> str:
    """A strongly (single) quoted HAProxy word: no expansion, no escapes; "'" refused."""
    if type(value) is str and _HAPROXY_PLAIN.fullmatch(value):
        return "'" + value + "'"
    text = _text("haproxy", value)
    if "'" in text:
        raise _refuse("haproxy", text, "a single quote cannot be escaped in strong quoting")
    return "'" + text + "'"


def keepalived_word(value: object) -> str:
    """A keepalived token: only letters, digits and _ . / : @ + = , - (keepalived has no reliable quoting)."""
    text = _text("keepalived", value)
    if not _KEEPALIVED_SAFE.fullmatch(text):
        raise _refuse("keepalived", text, "not a plain token")
    return text


FILTERS = {"nq": nginx_quote, "hq": haproxy_quote, "kw": keepalived_word, "nl": nginx_literal,
           "hf": haproxy_format_literal}
