"""The in-place comparison (configs of as many lines: only the differing lines read) decides exactly what the
whole comparison decides, for any pair of configs, including servers moved, renamed, added and removed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ctlplane.runtime_plan import _commands, runtime_commands

NAMES = ["a", "b", "c"]
OPTIONS = ["weight 1", "weight 2", "weight 0", "weight 1 maxconn 10", "weight 1 maxconn 20", "weight 1 disabled",
           "weight 1 backup", "weight 1 cookie 'x'"]


@st.composite
def config(draw: st.DrawFn) -> list[str]:
    lines = ["global", "    maxconn " + draw(st.sampled_from(["100", "200"])), ""]
    for backend in draw(st.lists(st.sampled_from(["be_x", "be_y"]), min_size=1, max_size=2, unique=True)):
        lines += ["", f"backend '{backend}'", "    balance " + draw(st.sampled_from(["roundrobin", "leastconn"]))]
        for name in draw(st.lists(st.sampled_from(NAMES), max_size=3, unique=True)):
            address = draw(st.sampled_from(["10.0.0.1:80", "10.0.0.2:80"]))
            lines.append(f"    server '{name}' '{address}' {draw(st.sampled_from(OPTIONS))}")
    return lines


def edited(lines: list[str], data: st.DataObject) -> list[str]:
    """The same config with a few lines changed in place, swapped, or replaced by another kind of line."""
    out = list(lines)
    for _ in range(data.draw(st.integers(0, 4))):
        servers = [i for i, line in enumerate(out) if line.startswith("    server '")]
        kind = data.draw(st.sampled_from(["option", "option", "swap", "rename", "other"]))
        if kind in ("option", "rename") and servers:
            i = data.draw(st.sampled_from(servers))
            if kind == "option":
                out[i] = out[i].rsplit("' ", 1)[0] + "' " + data.draw(st.sampled_from(OPTIONS))
            else:
                out[i] = out[i].replace("server '", "server 'z", 1)
        elif kind == "swap":
            i, j = data.draw(st.integers(0, len(out) - 1)), data.draw(st.integers(0, len(out) - 1))
            out[i], out[j] = out[j], out[i]
        elif kind == "other":
            i = data.draw(st.integers(0, len(out) - 1))
            out[i] = data.draw(st.sampled_from(["    maxconn 300", "    balance source", "", "backend 'be_y'"]))
    return out


def files(lines: list[str]) -> dict[str, bytes]:
    return {"haproxy.cfg": ("\n".join(lines) + "\n").encode()}


@settings(max_examples=400, deadline=None)
@given(config(), st.data())
def test_in_place_decides_as_the_whole_comparison(old: list[str], data: st.DataObject) -> None:
    new = data.draw(st.one_of(st.just(edited(old, data)), config()))
    whole = _commands(old, new, [])
    assert runtime_commands("haproxy", files(old), files(new)) == whole


def test_a_skeleton_line_changed_beside_a_weight_is_a_reload() -> None:
    old = ["global", "    maxconn 100", "backend 'be_x'", "    server 'a' '10.0.0.1:80' weight 1"]
    new = ["global", "    maxconn 200", "backend 'be_x'", "    server 'a' '10.0.0.1:80' weight 2"]
    assert runtime_commands("haproxy", files(old), files(new)) is None
    assert runtime_commands("haproxy", files(old), files([*old[:3], new[3]])) == ["set server be_x/a weight 2"]
