"""Build the embedded test subsets shipped in the package (archsim/data/<name>-test-500.npz).

Each subset holds the first 500 test (t10k) images and labels of a data set, compressed, and a
JSON metadata string: the source file names, their SHA-256, the count and the data set's
citation. The source files are checked against the registry's checksums first.

Usage:  python tools/make_subsets.py DATA_DIR [--count 500] [--out archsim/data]
where DATA_DIR holds <name>/t10k-images-idx3-ubyte.gz etc. (as written by `archsim data fetch`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from archsim.nn.datasets import DATASETS, EMBEDDED_COUNT  # noqa: E402
from archsim.nn.idx import read_idx_images, read_idx_labels  # noqa: E402


def sha256_of(path: Path) -> str:
    """SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def make_subset(name: str, data_dir: Path, out_dir: Path, count: int) -> Path:
    """Write ``out_dir/<name>-test-<count>.npz`` from the official t10k files of ``name``."""
    spec = DATASETS[name]
    sources = {}
    for key, file in (("images", spec.test_images), ("labels", spec.test_labels)):
        path = data_dir / name / file.name
        digest = sha256_of(path)
        if digest != file.sha256:
            raise SystemExit(f"{path}: sha256 {digest} does not match registry {file.sha256}")
        sources[key] = (path, digest)
    images = read_idx_images(sources["images"][0])[:count]
    labels = read_idx_labels(sources["labels"][0])[:count]
    metadata = {
        "dataset": name,
        "split": "test",
        "count": int(count),
        "first_index": 0,
        "source_images": spec.test_images.name,
        "source_images_sha256": sources["images"][1],
        "source_labels": spec.test_labels.name,
        "source_labels_sha256": sources["labels"][1],
        "citation": spec.citation,
    }
    out = out_dir / f"{name}-test-{count}.npz"
    np.savez_compressed(
        out, images=images, labels=labels, metadata=np.array(json.dumps(metadata, sort_keys=True))
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--count", type=int, default=EMBEDDED_COUNT)
    parser.add_argument("--out", type=Path, default=REPO / "archsim" / "data")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in DATASETS:
        out = make_subset(name, args.data_dir, args.out, args.count)
        print(f"{out}: {out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
