"""Two "hosts" on one machine: network namespaces joined by a veth pair, one process in each, MPI over TCP.

The test makes both namespaces itself (root's ``ip netns`` / ``ip link``),
gives each end of the pair an address, and runs ``mpirun -H A,B`` from the
first; a stand-in for ssh (``plm_ssh_agent``) starts Open MPI's daemon in
the second namespace, as ssh would on another machine. Each host also gets
its own hostname (a UTS namespace), since Open MPI treats processes on
hosts of the same name as neighbours and would share memory between them.
MPI is limited to TCP (``btl tcp,self``) on the pair's subnet, so all
traffic stays between the two namespaces the test made, which it removes
afterwards. Then the same equality check as on one machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys

import pytest

from .launching import SCENARIOS, is_open_mpi, require_mpi, results_of, run

SUBNET = "10.231.15.0/24"
ADDRESSES = ("10.231.15.1", "10.231.15.2")

AGENT = """#!/bin/sh
# mpirun's stand-in for ssh: "agent [options] HOST COMMAND..." runs COMMAND on the test host HOST
while [ $# -gt 0 ]; do case "$1" in -*) shift;; *) break;; esac; done
host=$1; shift
case "$host" in
  {a_ip}) ns={a}; name={a_host};;
  {b_ip}) ns={b}; name={b_host};;
  *) echo "agent: $host is not a test host" >&2; exit 255;;
esac
exec ip netns exec "$ns" unshare --uts /bin/sh -c "hostname $name; $*"
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


@pytest.fixture
def two_hosts():
    """Make the namespaces and the veth pair; yield their names; remove them (and what runs in them)."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    for tool in ("ip", "unshare"):
        if shutil.which(tool) is None:
            pytest.skip(f"'{tool}' is not installed, so no network namespaces can be made")
    tag = os.getpid() % 100000
    names = (f"dpa{tag}", f"dpb{tag}")
    made = []
    try:
        for name in names:
            _ip("netns", "add", name)
            made.append(name)
        _ip("link", "add", f"dpva{tag}", "type", "veth", "peer", "name", f"dpvb{tag}")
        for name, end, address in zip(names, (f"dpva{tag}", f"dpvb{tag}"), ADDRESSES, strict=True):
            _ip("link", "set", end, "netns", name)
            _ip("-n", name, "addr", "add", f"{address}/24", "dev", end)
            _ip("-n", name, "link", "set", end, "up")
            _ip("-n", name, "link", "set", "lo", "up")
            _ip("netns", "exec", name, "unshare", "--uts", "true")  # a hostname of its own is possible too
    except (subprocess.CalledProcessError, OSError) as exc:
        _remove(made)
        pytest.skip(f"cannot create network namespaces here: {getattr(exc, 'stderr', '') or exc}")
    try:
        yield names
    finally:
        _remove(made)


def _remove(names: list[str]) -> None:
    for name in names:
        pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, timeout=30)
        for pid in pids.stdout.split():  # processes this test started there (daemons, ranks)
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), 9)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)  # takes the veth end


def test_two_hosts_over_tcp_train_like_one_process(two_hosts, tmp_path):
    mpirun = require_mpi()
    if not is_open_mpi(mpirun) or shutil.which("prted", path=os.path.dirname(mpirun)) is None:
        pytest.skip("the two-host test drives Open MPI 5's launcher (prted); this mpirun is another MPI")
    a, b = two_hosts
    hosts = (f"host-{a}", f"host-{b}")
    agent = tmp_path / "agent"
    agent.write_text(AGENT.format(a=a, b=b, a_ip=ADDRESSES[0], b_ip=ADDRESSES[1], a_host=hosts[0],
                                  b_host=hosts[1]))
    agent.chmod(0o755)
    command = [
        "ip", "netns", "exec", a, "unshare", "--uts", "sh", "-c", f'hostname {hosts[0]} && exec "$0" "$@"',
        mpirun, "--allow-run-as-root", "-H", ",".join(ADDRESSES), "-n", "2",
        "--prtemca", "plm_ssh_agent", str(agent),
        "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", SUBNET,
        "--mca", "oob_tcp_if_include", SUBNET,
        "-x", "PYTHONPATH", "-x", "OPENBLAS_NUM_THREADS",
        sys.executable, str(SCENARIOS), "equal",
    ]
    results = results_of(run(command, timeout=240))
    world = results["world"]
    assert world["size"] == 2
    assert world["hostnames"] == list(hosts)
    assert len(set(world["net_namespaces"])) == 2  # really two network namespaces
    for optimizer in ("sgd", "adam", "lm"):
        result = results["equal"][optimizer]
        assert result["processes_identical"]
        assert result["max_weight_diff"] < 1e-10, result
        assert result["max_log_diff"] < 1e-10, result
