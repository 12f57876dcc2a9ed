"""Stage 2 of validation: the real proxy binaries judge the rendered bytes.

``check_output`` writes one engine's rendered files into a private staging
directory (``mkdtemp``: mode 0700, files keep their modes, plus empty ``logs/``
and ``tmp/``), runs that engine's own config test on it through the one
subprocess seam, removes the directory, and maps every message back to the
*rendered* file and line (the staging prefix is stripped). Nothing outside the
staging directory is ever named on a command line. A finding is an error unless
its severity is ``warning`` (the binary only warned, or the complaint depends on
the validating host, not the config) or ``skipped`` (the binary is not
installed); the caller decides what is fatal. The ``runner`` parameter is
the seam for running the checks elsewhere (e.g. inside a container) later.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import PurePosixPath

from ctlplane.drivers import process
from ctlplane.drivers.process import Completed, MissingBinary, Runner
from ctlplane.state.layout import CONFIG_DIR, NO_SERVER_STATE, RUNTIME_DIRS, SERVER_STATE
from ctlplane.errors import DriverError, Finding, Severity
from ctlplane.render import RenderedFile

ENGINES = ("nginx", "haproxy", "keepalived")
ROOT_FILE = {"nginx": "nginx.conf", "haproxy": "haproxy.cfg", "keepalived": "keepalived.conf"}
TIMEOUT = 60.0


def is_error(finding: Finding) -> bool:
    """True unless the finding is only a warning or a skipped check."""
    return finding.is_error


def binary_status() -> dict[str, str | None]:
    """Each engine's binary: its absolute path, or None when not installed."""
    return {engine: process.find_binary(engine) for engine in ENGINES}


def command(engine: str, binary: str, stage: str) -> tuple[list[str], str | None]:
    """The config-test argv for ``engine`` on the staging dir, and the cwd it needs."""
    root = os.path.join(stage, CONFIG_DIR, ROOT_FILE[engine])
    if engine == "nginx":  # -q: only problems; -e stderr (nginx >= 1.19.5): no log file outside stage
        return [binary, "-t", "-q", "-p", stage + "/", "-c", root, "-e", "stderr"], None
    if engine == "haproxy":  # no -q: in 2.6 it also silences the ALERT lines
        return [binary, "-c", "-f", root], stage
    # keepalived: -t's optional argument is a LOG file (the config comes from -f);
    # --all-config turns a missing config file into a failure (it exits 0 otherwise).
    return [binary, f"--use-file={root}", "--all-config", "--no-syslog", "--config-test"], None


def check_output(
    engine: str,
    files: Mapping[str, RenderedFile],
    *,
    runner: Runner = process.run,
    binary: str | None = None,
    timeout: float = TIMEOUT,
) -> list[Finding]:
    """Run ``engine``'s own config test on ``files`` and return its findings (empty: accepted)."""
    if engine not in ROOT_FILE:
        raise ValueError(f"unknown engine {engine!r}")
    root = ROOT_FILE[engine]
    binary = binary or process.find_binary(engine)
    if binary is None:
        return [_skipped(engine, root)]
    stage = _stage(files)
    try:
        argv, cwd = command(engine, binary, stage)
        try:
            done = runner(argv, cwd=cwd, timeout=timeout)
        except MissingBinary:
            return [_skipped(engine, root)]
        except DriverError as exc:
            return [Finding(f"{engine} config test could not run: {exc.message}", file=root, source=engine)]
        return _findings(engine, done, stage, files)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def check_proxy_outputs(
    outputs: Mapping[str, Mapping[str, RenderedFile]],
    engines: Mapping[str, str],
    *,
    runner: Runner = process.run,
    max_workers: int = 4,
) -> list[Finding]:
    """Check every proxy's root config and, when present, its keepalived.conf, concurrently.

    Findings come back in a stable order (proxy name, then engine) with their
    file prefixed by the proxy name, e.g. ``lb1/nginx.conf``.
    """
    jobs: list[tuple[str, str, Mapping[str, RenderedFile]]] = []
    for name in sorted(outputs):
        files = outputs[name]
        jobs.append((name, engines[name], files))
        if "keepalived.conf" in files:
            jobs.append((name, "keepalived", {"keepalived.conf": files["keepalived.conf"]}))
    if len(jobs) == 1:  # one check needs no thread pool (importing concurrent.futures and a thread: about 3 ms)
        results = [check_output(jobs[0][1], jobs[0][2], runner=runner)]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
            results = list(pool.map(lambda job: check_output(job[1], job[2], runner=runner), jobs))
    return [
        replace(f, file=f"{name}/{f.file}" if f.file and not f.file.startswith("/") else f.file)
        for (name, _, _), found in zip(jobs, results, strict=True)
        for f in found
    ]


def _skipped(engine: str, root: str) -> Finding:
    return Finding(f"{engine} not installed: stage-2 check skipped", file=root, source=engine, severity="skipped")


def _stage(files: Mapping[str, RenderedFile]) -> str:
    """A fresh 0700 directory laid out like a state directory: ``config/`` holding exactly ``files`` (with
    their modes) and the empty runtime directories (see ``ctlplane.state.layout``)."""
    stage = tempfile.mkdtemp(prefix="ctlplane-check-")
    try:
        os.chmod(stage, 0o700)
        for sub in (CONFIG_DIR, *RUNTIME_DIRS):
            os.mkdir(os.path.join(stage, sub), 0o700)
        _write(stage, SERVER_STATE, RenderedFile(NO_SERVER_STATE, 0o600))
        for rel, rendered in sorted(files.items()):
            _write(os.path.join(stage, CONFIG_DIR), rel, rendered)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return stage


def _write(stage: str, rel: str, rendered: RenderedFile) -> None:
    parts = PurePosixPath(rel).parts
    if not parts or PurePosixPath(rel).is_absolute() or any(p in ("", ".", "..") for p in parts) or "\\" in rel:
        raise DriverError("refusing to stage a file outside the staging directory",
                          [Finding(f"bad relative path {rel!r}", file=rel, source="driver")])
    target = os.path.join(stage, *parts)
    for i in range(1, len(parts)):  # each directory 0700 (makedirs gives the mode to the last one only)
        directory = os.path.join(stage, *parts[:i])
        if not os.path.isdir(directory):
            os.mkdir(directory, 0o700)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, rendered.content)
        os.fchmod(fd, rendered.mode & 0o777)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- message mapping

_NGINX = re.compile(r"^(?:nginx: |\d{4}/\d\d/\d\d \d\d:\d\d:\d\d )\[(\w+)\] (?:\d+#\d+: )?(.*)$")
_NGINX_AT = re.compile(r"^(.*) in (\S+):(\d+)$")
_NGINX_ERROR = {"emerg", "alert", "crit", "error"}
_HAPROXY = re.compile(r"^\[(ALERT|WARNING)\]\s+\(\d+\) : (.*)$")
_HAPROXY_MORE = re.compile(r"^\s+\| ?(.*)$")
_HAPROXY_AT = re.compile(r"(?:parsing )?\[([^\]]+?):(\d+)\] : ")
_HAPROXY_SUMMARY = ("Error(s) found in configuration file", "Fatal errors found in configuration")
_KEEPALIVED_AT = re.compile(r"^\((?:(.+?): )?Line (\d+)\) (.*)$")
_KEEPALIVED_NAMED = re.compile(r"^\(([A-Za-z0-9_.:@+=,-]+)\)")
_KEEPALIVED_HOST = (
    re.compile(r"interface \S+ for .* doesn't exist"),
    re.compile(r"^Non-existent interface specified in configuration"),
    re.compile(r"Unknown interface!$"),  # follows the real error line when the interface is unusable
)
_KEEPALIVED_NONROOT = re.compile(r"due to insecure$")  # script_user root cannot be honoured by a non-root check

Parsed = tuple[list[Finding], bool]  # findings, and whether the host (not the config) explains a failure


def _findings(engine: str, done: Completed, stage: str, files: Mapping[str, RenderedFile]) -> list[Finding]:
    root = ROOT_FILE[engine]
    text = done.stderr + "\n" + done.stdout
    text = text.replace(f"{stage}/{CONFIG_DIR}/", "").replace(stage + "/", "").replace(stage, ".")
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    parse = _PARSERS[engine]
    found, host_explained = parse(lines, root, files)
    found = list(dict.fromkeys(found))  # keepalived repeats each message once per parsing pass
    if done.returncode != 0 and not host_explained and not any(is_error(f) for f in found):
        why = (f"was killed by signal {-done.returncode}" if done.returncode < 0
               else f"failed with exit status {done.returncode}")
        tail = f": {lines[-1]}" if lines else " and printed nothing"
        found.append(Finding(f"{engine} config test {why}{tail}", file=root, source=engine))
    return found


def _relative(path: str, root: str) -> str:
    return root if path in ("", ".") else path.removeprefix("./")


def _parse_nginx(lines: list[str], root: str, files: Mapping[str, RenderedFile]) -> Parsed:
    found = []
    for line in lines:
        match = _NGINX.match(line)
        if not match or match.group(1) not in _NGINX_ERROR | {"warn"}:
            continue
        level, message = match.groups()
        file, number = root, None
        at = _NGINX_AT.match(message)
        if at:
            message, file, number = at.group(1), _relative(at.group(2), root), int(at.group(3))
        severity: Severity = "warning" if level == "warn" else "error"
        found.append(Finding(message, file=file, line=number, source="nginx", severity=severity))
    return found, False


def _haproxy_messages(lines: list[str]) -> list[tuple[str, str]]:
    messages: list[tuple[str, str]] = []
    for line in lines:
        more = _HAPROXY_MORE.match(line)
        if more and messages:
            level, text = messages[-1]
            messages[-1] = (level, f"{text} {more.group(1).strip()}")
            continue
        match = _HAPROXY.match(line)
        if match:
            messages.append((match.group(1), match.group(2).removeprefix("config : ").strip()))
    return messages


def _parse_haproxy(lines: list[str], root: str, files: Mapping[str, RenderedFile]) -> Parsed:
    found = []
    for level, text in _haproxy_messages(lines):
        if level == "ALERT" and text.startswith(_HAPROXY_SUMMARY):
            continue
        file, number = root, None
        at = _HAPROXY_AT.search(text)
        if at:
            file, number = _relative(at.group(1), root), int(at.group(2))
            text = _HAPROXY_AT.sub("", text).strip()
        severity: Severity = "warning" if level == "WARNING" else "error"
        found.append(Finding(text, file=file, line=number, source="haproxy", severity=severity))
    return found, False


def _parse_keepalived(lines: list[str], root: str, files: Mapping[str, RenderedFile]) -> Parsed:
    found, host_explained = [], False
    content = files[root].content.decode("utf-8", errors="replace") if root in files else ""
    for line in lines:
        file, number, message = root, None, line.strip()
        at = _KEEPALIVED_AT.match(message)
        if at:
            file, number, message = _relative(at.group(1) or "", root), int(at.group(2)), at.group(3)
        elif (named := _KEEPALIVED_NAMED.match(message)) is not None:
            number = _block_line(content, named.group(1))
        severity: Severity = "error"
        if _host_dependent(message):
            host_explained, severity = True, "warning"
            message = f"depends on the validating host, not the config: {message}"
        found.append(Finding(message, file=file, line=number, source="keepalived", severity=severity))
    return found, host_explained


def _host_dependent(message: str) -> bool:
    if any(p.search(message) for p in _KEEPALIVED_HOST):
        return True
    return bool(_KEEPALIVED_NONROOT.search(message)) and os.geteuid() != 0


def _block_line(content: str, name: str) -> int | None:
    """The line of ``vrrp_instance NAME`` / ``vrrp_script NAME`` for messages that only name the block."""
    pattern = re.compile(rf"^\s*vrrp_(?:instance|script)\s+{re.escape(name)}\s*\{{?\s*$")
    return next((i for i, line in enumerate(content.splitlines(), 1) if pattern.match(line)), None)


_PARSERS: dict[str, Callable[[list[str], str, Mapping[str, RenderedFile]], Parsed]] = {
    "nginx": _parse_nginx,
    "haproxy": _parse_haproxy,
    "keepalived": _parse_keepalived,
}


def errors_only(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that make a config unacceptable (not warnings, not skipped checks)."""
    return [f for f in findings if is_error(f)]
