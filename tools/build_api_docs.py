"""Build the API reference (HTML, pdoc) from the docstrings of the public modules.

    python tools/build_api_docs.py [--out docs/api]

Fails (exit 1) on any warning pdoc or the imports emit while documenting, so CI keeps the
reference warning-free. The output folder is a build product (not committed).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

#: The modules of the reference: the API and the objects it returns.
MODULES = [
    "archsim.api",
    "archsim.engine.results",
    "archsim.outputs.frames",
    "archsim.sweep.runner",
    "archsim.reproduce.tables",
    "archsim.workload.onnx_import",
    "archsim.train.finetune",
    "archsim.train.registry",
    "archsim.train.model",
    "archsim.train.sc",
    "archsim.train.calibrate",
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/api", help="output folder (default docs/api)")
    args = p.parse_args(argv)
    import pdoc
    import pdoc.render

    pdoc.render.configure(docformat="restructuredtext", show_source=False,
                          footer_text="archsim API reference")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.pdoc(*MODULES, output_directory=Path(args.out))
    for w in caught:
        print(f"warning: {w.filename}:{w.lineno}: {w.category.__name__}: {w.message}",
              file=sys.stderr)
    if caught:
        print(f"build_api_docs: {len(caught)} warning(s)", file=sys.stderr)
        return 1
    pages = sorted(Path(args.out).rglob("*.html"))
    print(f"build_api_docs: {len(pages)} pages in {args.out}, no warnings")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
