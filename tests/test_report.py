"""report.html: one self-contained page per run, sweep and reproduction folder.

The browser test loads the file from disk in headless Chromium (Debian's ``chromium``; CI
installs it), takes a screenshot and checks that no image is broken and the page is not blank.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from archsim.cli import main
from archsim.report import write_report
from archsim.report.page import fmt_number

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "arch_configs" / "dwcnn" / "small_conv_fc-shared.yaml"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    assert main(["run", str(SMALL), "--out", str(out), "--quiet", "--images", "3", "--jobs", "1",
                 "--report"]) == 0
    return out


def test_a_run_report_is_one_self_contained_file(run_dir):
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert len(srcs) == len(list((run_dir / "plots").glob("*.png"))) >= 4
    assert all(s.startswith("data:image/png;base64,") for s in srcs)  # nothing outside
    assert "<link" not in page and "<script" not in page
    s = json.loads((run_dir / "summary.json").read_text())
    assert f"{s['cycles']:,}" in page  # thousands separators
    for name in ("per-image latency (mean)", "throughput interval", "bottleneck layer",
                 "input wait", "backpressure", "memory stall", "config.resolved.yaml"):
        assert name in page


def test_number_format_has_separators_and_keeps_small_values():
    assert fmt_number(1234567) == "1,234,567"
    assert fmt_number(1234567.8) == "1,234,568"
    assert fmt_number("1.23e+06") == "1,230,000"
    assert fmt_number(0.5) == "0.5000"
    assert fmt_number(1.2346e-7) == "1.235e-07"
    assert fmt_number(None) == "–"


def test_a_reproduction_report_prints_the_caveat_beside_the_fitted_table(tmp_path):
    from archsim.reproduce.tables import Table

    tables = tmp_path / "tables"
    for stem, caveat in (("table2", None), ("table2_calibrated", "fitted to this table")):
        t = Table(f"Table II ({stem})", ["structure"], ["power_mw"], caveat=caveat)
        t.add(["shared"], {"power_mw": (100.0, 123456.0)})
        t.write(tables, stem)
    (tmp_path / "trends.csv").write_text("where,technology,claim,evidence,holds\n"
                                         "table2,generic45,shared < unshared,1 < 2,True\n")
    page = write_report(tmp_path).read_text(encoding="utf-8")
    assert page.count("Caveat:") == 1
    caveat_at = page.index("Caveat:")
    assert page.index("Table II (table2_calibrated)") < caveat_at  # beside that table
    assert page.index("Table II (table2)") < page.index("Table II (table2_calibrated)")
    assert "power: ours / paper" in page and "power (mW), paper" in page
    assert "123,456" in page and "1,235" in page  # ours, and the ratio 1234.56
    assert "shared &lt; unshared" in page  # the trends checked


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


_CHECK = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length;
  const text = document.body.innerText.trim().length;
  const out = document.createElement('pre');
  out.id = 'archsim-check';
  out.textContent = `images=${imgs.length} broken=${broken} text=${text}`;
  document.body.appendChild(out);
});
</script>"""


def test_the_report_renders_in_headless_chromium(run_dir, tmp_path):
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install chromium (.ci/run does)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    page = run_dir / "report.html"
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--allow-file-access-from-files", "--window-size=1200,1600"]
    shot = tmp_path / "report.png"
    subprocess.run([*flags, f"--screenshot={shot}", page.as_uri()], check=True,
                   capture_output=True, timeout=120)
    # the page as the browser laid it out: a copy with a script that counts broken images
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _CHECK + "</body>"),
                     encoding="utf-8")
    dom = subprocess.run([*flags, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    found = re.search(r"images=(\d+) broken=(\d+) text=(\d+)", dom)
    assert found, dom[-2000:]
    images, broken, text = map(int, found.groups())
    assert images >= 4 and broken == 0
    assert text > 500  # the summary and tables are there
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000
    ink = np.mean(np.any(pixels < 0.9, axis=-1))  # share of pixels that are not white
    assert 0.02 < ink < 0.9, f"page looks blank (ink {ink:.3f})"
