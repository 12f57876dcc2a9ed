"""Independent readings of rendered configs, for comparing structure and for
spotting code-loading directives.

NGINX files are parsed by crossplane (not by ctlplane's own code); the
structure is the tree of (directive, number of arguments, children). HAProxy
files are split into words by a small tokenizer following HAProxy's own rules
(single quotes strong, double quotes and backslash escapes, '#' comments);
the structure is, per section, the (keyword, number of words) of each line.
crt-list and keepalived files are compared by their words per line. Both
trees are compared with siblings sorted (``canonical``): renaming a host may
reorder equal-shaped server blocks, which is not a change of structure.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any

import crossplane

from ctlplane.render import RenderedFile
from ctlplane.render.nginx_view import STREAM_MODULE

# Directives that load or run code. load_module is allowed once, with the fixed stream module path only.
NGINX_CODE = {"load_module", "ssl_engine", "include", "perl", "perl_modules", "perl_require", "perl_set",
              "js_import", "js_include", "js_path", "js_set", "js_content", "js_body_filter", "js_header_filter",
              "env"}
HAPROXY_CODE = {"lua-load", "lua-load-per-thread", "lua-prepend-path", "external-check", "insecure-fork-wanted",
                "insecure-setuid-wanted", "ssl-engine", "ssl-provider", "ssl-provider-path", "ssl-propquery",
                "setenv", "presetenv", "resetenv", "unsetenv", "program", "use-service", "51degrees-data-file",
                "wurfl-data-file", "deviceatlas-json-file", "module-path", "module-load"}
HAPROXY_METRICS_LINE = "http-request use-service prometheus-exporter if { path /metrics }"
HAPROXY_SECTIONS = {"global", "defaults", "frontend", "backend", "listen", "cache", "userlist", "peers",
                    "resolvers", "program", "ring", "http-errors", "mailers"}

Tree = tuple[tuple[str, int, Any], ...]  # (name, number of arguments or words, children or None)


def nginx_parse(text: bytes) -> dict[str, Any]:
    """crossplane's reading of one nginx.conf (single file: an ``include`` is never followed)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "nginx.conf")
        with open(path, "wb") as handle:
            handle.write(text)
        payload = crossplane.parse(path, catch_errors=True, single=True, comments=False, check_ctx=True,
                                   check_args=True)
    config = payload["config"][0]
    return {"parsed": config["parsed"], "errors": [e["error"].replace(path, "nginx.conf") for e in payload["errors"]]}


# Blocks whose entries are data (a key and its value), not directives: crossplane reads the key as a name.
NGINX_DATA_BLOCKS = {"map", "types", "geo", "split_clients", "match", "charset_map"}


def nginx_tree(parsed: list[dict[str, Any]], data: bool = False) -> Tree:
    """(directive, number of args, children) per directive, in order; entries of data blocks are '<entry>'."""
    return tuple(("<entry>" if data else d["directive"], len(d["args"]),
                  nginx_tree(d["block"], d["directive"] in NGINX_DATA_BLOCKS) if "block" in d else None)
                 for d in parsed)


def canonical(tree: Tree | None) -> Tree | None:
    """The tree with siblings sorted: equal for configs that differ only in the order of equal-shaped blocks
    (server blocks and locations are sorted by name, and names may change)."""
    if tree is None:
        return None
    return tuple(sorted(((name, n, canonical(children)) for name, n, children in tree), key=repr))


def nginx_directives(parsed: list[dict[str, Any]], context: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], dict[str, Any]]]:
    """Every directive with the names of the blocks around it (entries of data blocks are skipped)."""
    for d in parsed:
        yield context, d
        if "block" in d and d["directive"] not in NGINX_DATA_BLOCKS:
            yield from nginx_directives(d["block"], (*context, d["directive"]))


def nginx_code_loading(parsed: list[dict[str, Any]]) -> list[str]:
    """Every code-loading directive except ``load_module <STREAM_MODULE>`` at top level, as text."""
    bad = []
    for context, d in nginx_directives(parsed):
        name, args = d["directive"], d["args"]
        if name == "load_module" and context == () and args == [STREAM_MODULE]:
            continue
        if name in NGINX_CODE or "lua" in name:
            bad.append(f"{'/'.join(context)}: {name} {' '.join(args)}")
        if name in ("ssl_certificate", "ssl_certificate_key") and not (args and args[0].startswith("certs/")):
            bad.append(f"{name} {' '.join(args)}")  # engine:..., data:... or a path outside the release
    return bad


def haproxy_words(line: str) -> list[tuple[str, bool]]:
    """HAProxy's split of one line into (word, was quoted); raises ValueError on an unterminated quote."""
    if not any(c in line for c in "'\"\\#"):
        return [(w, False) for w in line.split()]
    words: list[tuple[str, bool]] = []
    cur: str | None = None
    quoted = False
    quote: str | None = None
    i = 0
    while i < len(line):
        c = line[i]
        if quote == "'":
            if c == "'":
                quote = None
            else:
                cur = (cur or "") + c
        elif quote == '"':
            if c == '"':
                quote = None
            elif c == "\\" and i + 1 < len(line):
                cur, i = (cur or "") + line[i + 1], i + 1
            else:
                cur = (cur or "") + c
        elif c in " \t":
            if cur is not None:
                words.append((cur, quoted))
            cur, quoted = None, False
        elif c == "#":
            break
        elif c in "'\"":
            quote, cur, quoted = c, cur or "", True
        elif c == "\\" and i + 1 < len(line):
            cur, i = (cur or "") + line[i + 1], i + 1
        else:
            cur = (cur or "") + c
        i += 1
    if quote:
        raise ValueError(f"unterminated quote in {line!r}")
    if cur is not None:
        words.append((cur, quoted))
    return words


def haproxy_structure(text: str) -> Tree:
    """Per section: (its keyword, its number of words, the (first keyword, number of words, None) of each of
    its lines), in file order: the same tree shape as NGINX's."""
    sections: list[tuple[str, int, list[tuple[str, int, None]]]] = []
    for line in text.split("\n"):
        words = haproxy_words(line)
        if not words:
            continue
        if line[0] not in " \t":
            sections.append((words[0][0], len(words), []))
        elif sections:
            sections[-1][2].append((words[0][0], len(words), None))
        else:
            sections.append(("<none>", 0, [(words[0][0], len(words), None)]))
    return tuple((name, n, tuple(lines)) for name, n, lines in sections)


def haproxy_code_loading(text: str) -> list[str]:
    bad = []
    for line in text.split("\n"):
        words = haproxy_words(line)
        plain = [w for w, quoted in words if not quoted]
        if words and line[0] not in " \t" and words[0][0] not in HAPROXY_SECTIONS:
            bad.append(f"unknown section: {line}")
        if line.strip() == HAPROXY_METRICS_LINE:  # the built-in exporter of the metrics listener, no code loaded
            continue
        if any(w in HAPROXY_CODE or w.startswith("lua") for w in plain):
            bad.append(line)
    return bad


def words_per_line(text: str) -> tuple[int, ...]:
    return tuple(len(line.split()) for line in text.split("\n") if line.strip() and not line.startswith("#"))


def code_loading(engine: str, files: Mapping[str, RenderedFile]) -> list[str]:
    """Every code-loading directive in a proxy's rendered files (empty: none)."""
    return analyse(engine, files)[1]


def quick_code_loading(engine: str, files: Mapping[str, RenderedFile]) -> list[str]:
    """A line-based scan for code-loading directives, for configs whose syntax is known to be intact."""
    if engine == "haproxy":
        return haproxy_code_loading(files["haproxy.cfg"].content.decode())
    bad = []
    data_block = False  # inside a map/types block, whose lines are data entries
    for line in files["nginx.conf"].content.decode().split("\n"):
        word = line.split(None, 1)[0].rstrip(";") if line.strip() else ""
        if data_block:
            data_block = word != "}"
            continue
        data_block = word in NGINX_DATA_BLOCKS and line.rstrip().endswith("{")
        if word == "load_module" and line.strip() == f"load_module {STREAM_MODULE};":
            continue
        if word in NGINX_CODE or "lua" in word:
            bad.append(line)
    return bad


def structure(engine: str, files: Mapping[str, RenderedFile]) -> dict[str, Any]:
    """The shape of a proxy's files, independent of the names and values printed inside them."""
    return analyse(engine, files)[0]


def analyse(engine: str, files: Mapping[str, RenderedFile]) -> tuple[dict[str, Any], list[str]]:
    """The shape of a proxy's files (independent of the names and values printed inside them) and every
    code-loading directive in them, from one independent parse."""
    shape: dict[str, Any] = {"files": sorted((_kind(rel), f.mode) for rel, f in files.items())}
    if engine == "nginx":
        parsed = nginx_parse(files["nginx.conf"].content)
        shape["nginx.conf"] = canonical(nginx_tree(parsed["parsed"]))
        shape["crossplane_errors"] = len(parsed["errors"])
        bad = nginx_code_loading(parsed["parsed"])
    else:
        bad = haproxy_code_loading(files["haproxy.cfg"].content.decode())
        shape["haproxy.cfg"] = canonical(haproxy_structure(files["haproxy.cfg"].content.decode()))
        shape["crt-lists"] = sorted(words_per_line(f.content.decode()) for rel, f in files.items()
                                    if rel.endswith(".crtlist"))
    if "keepalived.conf" in files:
        shape["keepalived.conf"] = words_per_line(files["keepalived.conf"].content.decode())
    return shape, bad


def _kind(rel: str) -> str:
    """A file's role: its directory and extension (names derive from model names, which may change)."""
    head = rel.split("/", 1)[0] if "/" in rel else ""
    return f"{head}/*{os.path.splitext(rel)[1]}"
