"""HA pairs for real: two proxy containers running keepalived, failover proven with traffic.

Each test applies a two-node model with ``ctlplane.apply`` (``lb1``/``lb2``
in front of the lab's echo backends, adverts every 1 s; see
``harness/ha.py``) and sends steady traffic (50 requests/s, a new
connection each, 2 s timeout) from a client container to the virtual IP
while a node dies (SIGKILL of its container), its proxy hangs (SIGSTOP of
the engine's processes while keepalived lives on), it is taken down
gracefully (the driver's stop, as ``ctlplane down``) or the pair is
re-applied under load. Failover times and failed-request counts are printed
(``pytest -rP``) and recorded in docs/ha.md.

VRRP's bound for a dead master is the backup's master-down interval:
3 adverts + skew, (256 - priority) / 256 s = 3.61 s at priority 100. A
failure counted against "in flight during the detection window" is a
request sent between the break (minus the client timeout) and the moment
the other node held the VIP.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ctlplane.drivers import driver_for
from ctlplane.model.load import load_file
from ctlplane.pipeline import build
from ctlplane.status import model_status
from integration.harness import Deployer, Lab, wait_until
from integration.harness.ha import HaPair, Steady, SteadyResult

RATE = 50.0  # requests per second to the VIP(s)
CONCURRENCY = 8  # client threads: at a clean handover each can lose at most the one request it has in flight
TIMEOUT = 2.0  # per request
DETECTION = 3 * 1.0 + (256 - 100) / 256  # master-down interval of the backup (advert 1 s, priority 100)
# track script: up to one interval until the next check, then fall (2) checks of which the last times out
# (timeout 1 s), then the backup's skew after keepalived's priority-0 advert
TRACK = 3 * 1.0 + 1.0 + (256 - 100) / 256


def report(test: str, engine: str, **numbers: Any) -> None:
    print(f"HA {test} [{engine}]: " + ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                                              for k, v in numbers.items()))


def steady(lab: Lab, targets: list[str], duration: float, keepalive: bool = False) -> Steady:
    return Steady(lab.client, targets, rate=RATE, duration=duration, concurrency=CONCURRENCY, timeout=TIMEOUT,
                  keepalive=keepalive).start()


def vrrp_of(ha: HaPair) -> dict[str, dict[str, Any]]:
    """``ctlplane status``'s VRRP view of each node (the code behind ``ctlplane status -o json``)."""
    return {s.proxy: s.vrrp.as_dict() for s in model_status(build(ha.model_path)) if s.vrrp}


def assert_failover(result: SteadyResult, broke: float, moved: float, bound: float, target: int | None = None) -> None:
    """The VIP moved within ``bound``, traffic came back with it, and only in-flight requests failed."""
    start, gap = result.longest_gap(target)
    recovered = start + gap - broke  # the first answer after the outage, from the break
    in_flight = result.sent_between(broke - TIMEOUT, broke + moved)
    detail = f"{result.summary()}\n{result.timeline(broke)}"
    assert result.unsent == 0, detail
    # the VIP itself moves within the bound (+ the slack of polling `ip addr` through docker exec); a client
    # whose SYN went to the dead node gets its answer at its next SYN retransmission (TCP's RTO: 1 s)
    assert moved <= bound + 0.75, f"the VIP was seen on the peer after {moved:.2f}s (bound {bound:.2f}s)\n{detail}"
    assert recovered <= bound + 1.0, f"answers resumed {recovered:.2f}s after the break (bound {bound:.2f}s)\n{detail}"
    assert len(result.failures()) <= in_flight, detail


def recovery(result: SteadyResult, broke: float, target: int | None = None) -> float:
    start, gap = result.longest_gap(target)
    return start + gap - broke


def test_active_passive_failover_and_preempt(engine: str, lab: Lab, deployer: Deployer) -> None:
    ha = HaPair.deploy(deployer, lab, engine, preempt=True)
    vip = ha.vips[0]
    assert ha.holder(vip) == "lb1"
    nodes = vrrp_of(ha)
    assert (nodes["lb1"]["state"], nodes["lb1"]["vips"]) == ("MASTER", [f"{vip}/24"]), nodes
    assert (nodes["lb2"]["state"], nodes["lb2"]["vips"]) == ("BACKUP", []), nodes

    traffic = steady(lab, [f"{vip}:80"], duration=6.0)
    killed = ha.kill("lb1")
    moved = ha.wait_holder(vip, "lb2", timeout=10) - killed
    result = traffic.result()
    report("active-passive: the active node dies (SIGKILL)", engine, vip_moved_s=moved,
           answers_back_s=recovery(result, killed), no_answer_s=result.longest_gap()[1], failed=len(result.failures()),
           sent_in_window=result.sent_between(killed - TIMEOUT, killed + moved), total=len(result.results))
    assert_failover(result, killed, moved, DETECTION)

    # Start it again: ctlplane's apply starts the stopped node (first: it holds no VIP) and its keepalived;
    # with preempt the owner takes its VIP back.
    traffic = steady(lab, [f"{vip}:80"], duration=8.0)
    results = ha.apply()
    assert [(r.proxy, r.outcome) for r in results] == [("lb1", "started"), ("lb2", "unchanged")], results
    ha.wait_holder(vip, "lb1", timeout=10)
    result = traffic.result()
    report("preempt: the owner takes its VIP back", engine, failed=len(result.failures()),
           no_answer_s=result.longest_gap()[1], total=len(result.results))
    assert ha.holder(vip) == "lb1"
    assert len(result.failures()) <= CONCURRENCY, f"{result.summary()}\n{result.timeline(result.longest_gap()[0])}"


def test_no_preempt_with_unicast_and_graceful_down(engine: str, lab: Lab, deployer: Deployer) -> None:
    ha = HaPair.deploy(deployer, lab, engine, preempt=False, unicast=True, auth_password="s3cret")
    vip = ha.vips[0]
    assert ha.holder(vip) == "lb1"  # the owner is applied first: it wins the first election without preemption
    conf = ha.nodes["lb2"].rendered()["keepalived.conf"]
    assert "unicast_peer" in conf and "nopreempt" in conf and "auth_pass" in conf

    traffic = steady(lab, [f"{vip}:80"], duration=5.0)
    control = driver_for(load_file(ha.model_path), "lb1").control
    down = threading.Thread(target=control.stop)  # what `ctlplane down --proxy lb1` does: keepalived first
    stopped = time.time()
    down.start()
    moved = ha.wait_holder(vip, "lb2", timeout=10) - stopped
    down.join(60)
    result = traffic.result()
    report("graceful down of the active node", engine, vip_moved_s=moved, answers_back_s=recovery(result, stopped),
           no_answer_s=result.longest_gap()[1],
           failed=len(result.failures()), total=len(result.results))
    assert moved < DETECTION, f"no priority-0 handover: the VIP moved after {moved:.2f}s"
    assert len(result.failures()) <= CONCURRENCY, f"{result.summary()}\n{result.timeline(stopped)}"

    results = ha.apply()  # lb1 comes back, but without preemption the VIP stays where it is
    assert [(r.proxy, r.outcome) for r in results] == [("lb1", "started"), ("lb2", "unchanged")], results
    nodes: dict[str, dict[str, Any]] = {}

    def lb1_backup() -> bool:
        nodes.update(vrrp_of(ha))
        return nodes["lb1"]["state"] == "BACKUP" and nodes["lb2"]["state"] == "MASTER"

    wait_until(lb1_backup, timeout=10, what="lb1 BACKUP, lb2 MASTER")
    # lb1's backup timer (3 adverts + skew) runs out within this window: the VIP must stay on lb2 throughout
    deadline = time.time() + DETECTION + 0.5
    while time.time() < deadline:
        assert ha.holder(vip) == "lb2", ha.vrrp_log("lb1")
    assert vrrp_of(ha)["lb2"]["vips"] == [f"{vip}/24"]


def test_track_script_moves_vip_when_the_proxy_hangs(engine: str, lab: Lab, deployer: Deployer) -> None:
    ha = HaPair.deploy(deployer, lab, engine, check={"interval": "1s", "timeout": "1s", "fall": 2, "rise": 2})
    vip = ha.vips[0]
    assert ha.holder(vip) == "lb1"
    traffic = steady(lab, [f"{vip}:80"], duration=7.0)
    frozen = ha.freeze("lb1")  # nginx/haproxy stop serving; keepalived on lb1 still runs
    moved = ha.wait_holder(vip, "lb2", timeout=12) - frozen
    result = traffic.result()
    report("the active proxy hangs, keepalived lives (track script)", engine, vip_moved_s=moved,
           answers_back_s=recovery(result, frozen), no_answer_s=result.longest_gap()[1], failed=len(result.failures()),
           sent_in_window=result.sent_between(frozen - TIMEOUT, frozen + moved), total=len(result.results))
    assert ha.holder(vip) == "lb2", f"lb1:\n{ha.vrrp_log('lb1')}\nlb2:\n{ha.vrrp_log('lb2')}"
    assert "Entering FAULT STATE" in ha.vrrp_log("lb1"), ha.vrrp_log("lb1")
    assert_failover(result, frozen, moved, TRACK)


def test_active_active_both_vips_then_one_node_holds_both(engine: str, lab: Lab, deployer: Deployer) -> None:
    ha = HaPair.deploy(deployer, lab, engine, mode="active_active")
    vip_a, vip_b = ha.vips
    assert (ha.holder(vip_a), ha.holder(vip_b)) == ("lb1", "lb2")
    traffic = steady(lab, [f"{vip_a}:80", f"{vip_b}:80"], duration=6.0)
    killed = ha.kill("lb2")
    moved = ha.wait_holder(vip_b, "lb1", timeout=10) - killed
    result = traffic.result()
    report("active-active: one node dies", engine, vip_moved_s=moved, answers_back_s=recovery(result, killed, 1),
           no_answer_s=result.longest_gap(1)[1],
           failed=len(result.failures()), failed_on_surviving_vip=sum(1 for r in result.failures() if r[1] == 0),
           total=len(result.results))
    assert ha.holder(vip_a) == "lb1" and ha.holder(vip_b) == "lb1"
    assert not [r for r in result.failures() if r[1] == 0], "the surviving node's own VIP never fails"
    assert len(result.ok(0)) == sum(1 for r in result.results if r[1] == 0)
    assert_failover(result, killed, moved, DETECTION, target=1)
    nodes = vrrp_of(ha)
    assert nodes["lb1"]["state"] == "MASTER" and sorted(nodes["lb1"]["vips"]) == [f"{vip_a}/24", f"{vip_b}/24"]


def test_rolling_apply_under_load_loses_nothing(engine: str, lab: Lab, deployer: Deployer) -> None:
    ha = HaPair.deploy(deployer, lab, engine)
    vip = ha.vips[0]
    assert ha.holder(vip) == "lb1"
    traffic = steady(lab, [f"{vip}:80"], duration=6.0, keepalive=True)
    pools = [{"name": "app", "balance": {"strategy": "least_connections"}, "servers": lab.servers()}]
    pairs = [{**ha.model["pairs"][0], "check": {"fall": 3}}]  # keepalived.conf changes too: SIGHUP
    results = ha.apply(pools=pools, pairs=pairs)  # a change both engines reload for
    result = traffic.result()
    report("rolling apply under load", engine, failed=len(result.failures()), total=len(result.results),
           order=" then ".join(r.proxy for r in results))
    assert [(r.proxy, r.outcome) for r in results] == [("lb2", "reloaded"), ("lb1", "reloaded")], results
    assert ha.holder(vip) == "lb1"
    assert all("Reload complete" in ha.vrrp_log(n) and "fall 3" in ha.nodes[n].rendered()["keepalived.conf"]
               for n in ("lb1", "lb2"))
    assert not result.failures() and result.unsent == 0, result.summary()
    assert len(result.ok()) == len(result.results) == int(RATE * 6.0)
