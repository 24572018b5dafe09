"""Distributed sweep backends bind to loopback: the Dask LocalCluster listens on 127.0.0.1
only, opens no dashboard and no fixed port unless asked; a local Ray instance registers on
127.0.0.1 without a dashboard; queued points are cancelled when the sweep stops."""

from __future__ import annotations

import sys
import types

import pytest

from archsim.sweep import runner


def test_dask_local_cluster_is_loopback_without_a_dashboard():
    pytest.importorskip("dask.distributed")
    cluster = runner.dask_cluster(1)
    try:
        sched = cluster.scheduler
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        assert "dashboard" not in sched.services or not _bokeh_routes(sched)
        http = sched.http_server
        assert http.address == "127.0.0.1" and http.port != 8787  # no fixed, public port
        for w in cluster.workers.values():
            assert str(w.worker_address).startswith("tcp://127.0.0.1:")
    finally:
        cluster.close()


def _bokeh_routes(sched) -> bool:
    app = getattr(sched, "http_application", None)
    rules = getattr(getattr(app, "default_router", None), "rules", [])
    return any("status" in str(getattr(r, "matcher", "")) for r in rules)


def test_ray_local_instance_registers_on_loopback(monkeypatch):
    calls: list[dict] = []
    fake = types.ModuleType("ray")
    fake.is_initialized = lambda: False  # type: ignore[attr-defined]
    fake.init = lambda **kw: calls.append(kw)  # type: ignore[attr-defined]
    fake.shutdown = lambda: None  # type: ignore[attr-defined]

    class _Remote:
        def __init__(self, fn):
            self.fn = fn

        def remote(self, task):
            return self.fn(task)

    fake.remote = lambda **kw: _Remote  # type: ignore[attr-defined]
    fake.wait = lambda pending, num_returns: (pending[:1], pending[1:])  # type: ignore
    fake.get = lambda ref: ref  # type: ignore[attr-defined]
    fake.cancel = lambda ref, force=False: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setenv(runner._RAY_LOCAL_ONLY_ENV, "1")
    monkeypatch.setattr(runner, "run_point", lambda t: {"key": t["key"], "status": "ok"})
    got = list(runner._ray([{"key": "a"}, {"key": "b"}], 2, None))
    assert [g["key"] for g in got] == ["a", "b"]
    assert calls == [{"num_cpus": 2, "include_dashboard": False,
                      "_node_ip_address": "127.0.0.1"}]
    assert runner.os.environ[runner._RAY_LOCAL_ONLY_ENV] == "0"
    assert runner.ray_init_kwargs(1, None, dashboard=True)["dashboard_host"] == "127.0.0.1"
    assert runner.ray_init_kwargs(1, "ray://host:10001") == {"address": "ray://host:10001"}


def test_a_real_local_ray_instance_is_on_loopback():
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("a Ray instance is already running in this process")
    runner._ray_loopback(ray)
    ray.init(**runner.ray_init_kwargs(1, None))
    try:
        nodes = ray.nodes()
        assert nodes and all(n["NodeManagerAddress"] == "127.0.0.1" for n in nodes)
        gcs = ray.get_runtime_context().gcs_address
        assert gcs.startswith("127.0.0.1:"), gcs
    finally:
        ray.shutdown()
