"""``archsim reproduce scbnn`` on a few images: it writes every number beside the paper's with
the ratio, and checks (never asserts) the paper's trends."""

from __future__ import annotations

import json
from types import SimpleNamespace

from archsim.reproduce.scbnn import NS, PAPER, scbnn_main


def test_reproduce_scbnn_writes_the_comparison(tmp_path):
    args = SimpleNamespace(out=str(tmp_path / "scbnn"), images=12, hw_images=1, jobs=1,
                           data_dir=None, quiet=True, set=[])
    assert scbnn_main(args) == 0
    res = json.loads((tmp_path / "scbnn" / "results.json").read_text())
    report = (tmp_path / "scbnn" / "report.md").read_text()
    assert res["paper"] == PAPER
    assert set(res["hardware"]) == {"conv_adder", "conv_bit_serial", *(f"sc_n{n}" for n in NS)}
    for n in NS:
        assert 0.0 <= res["accuracy"][f"sc_n{n}_conventional_training"] <= 1.0
    assert "62 %" in report and "2.1x" in report and "ratio" in report
    assert len(res["trends"]) == 5 and all(isinstance(v, bool) for v in res["trends"].values())
    # energy per inference grows with the presentations (each one re-reads fc1's weights)
    e = [res["hardware"][f"sc_n{n}"]["energy_nj_per_image"] for n in NS]
    assert e == sorted(e)
    # the first layer's lanes run once per presentation: cycles grow with N
    c = [res["hardware"][f"sc_n{n}"]["cycles_per_image"] for n in NS]
    assert c == sorted(c) and c[-1] > c[0]
