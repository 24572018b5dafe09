"""The ledger's energy is counts x per-action energy + leakage x time (hand-computed)."""

import pytest

from archsim.engine import Action, Block, CycleEnvironment, LayerTiming, Ledger, RunResult


def _two_block_result() -> RunResult:
    led = Ledger()
    mem = led.add_block(
        Block("weight_mem", "fc1", "memory", instances=1000,
              actions={"read": Action("read", 2.5), "shift": Action("shift", 0.609)},
              area_um2=0.012, leakage_mw=1e-6)
    )
    apc = led.add_block(
        Block("apc", "fc1", "apc", instances=4,
              actions={"count": Action("count", 0.25)}, area_um2=30.0, leakage_mw=0.002)
    )
    led.record(mem, "read", 640, cycle=100, image=0)
    led.record(mem, "shift", 300, cycle=100, image=0)
    led.record(mem, "read", 360, cycle=200, image=1)
    led.record(apc, "count", 800, cycle=200, image=1)
    # 200 cycles at 250 MHz = 800 ns
    return RunResult(design="t", seed=0, mode="fast", clock_mhz=250.0, images=2, cycles=200,
                     ledger=led, layers=[LayerTiming("fc1", 0, 200, 200, 0)])


def test_energy_is_counts_times_cost_plus_leakage_times_time():
    r = _two_block_result()
    dynamic = 1000 * 2.5 + 300 * 0.609 + 800 * 0.25
    leakage = (1000 * 1e-6 + 4 * 0.002) * 800.0  # mW x ns = pJ
    assert r.latency_ns == pytest.approx(800.0)
    assert r.energy_pj() == pytest.approx(dynamic + leakage)
    assert r.layer_energy_pj()["fc1"] == pytest.approx(dynamic + leakage)
    assert r.power_mw() == pytest.approx((dynamic + leakage) / 800.0)
    assert r.area_um2() == pytest.approx(1000 * 0.012 + 4 * 30.0)


def test_ledger_totals_and_rows_agree():
    r = _two_block_result()
    led = r.ledger
    assert led.count("fc1.weight_mem", "read") == 1000
    rows = led.rows()
    assert rows["count"].sum() == 640 + 300 + 360 + 800
    assert rows["energy_pj"].sum() == pytest.approx(sum(
        sum(v.values()) for v in led.dynamic_energy_pj().values()))


def test_unknown_action_and_bad_block_rejected():
    led = Ledger()
    b = led.add_block(Block("x", "l", "xnor", 1, {"multiply": Action("multiply", 1.0)}, 1.0, 0.0))
    with pytest.raises(KeyError):
        led.record(b, "shift", 1, 0)
    with pytest.raises(ValueError):
        Block("y", "l", "not-a-kind", 1, {}, 1.0, 0.0)
    with pytest.raises(ValueError):
        led.add_block(Block("x", "l", "xnor", 1, {}, 1.0, 0.0))


def test_environment_time_is_integer_cycles_and_events_are_counted():
    env = CycleEnvironment()

    def proc():
        yield env.cycles(3)
        yield env.cycles(4)

    env.process(proc())
    env.run()
    assert env.now == 7 and isinstance(env.now, int)
    assert env.events_scheduled >= 3
    with pytest.raises(ValueError):
        env.timeout(1.5)
