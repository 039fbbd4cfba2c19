"""Image score of the feature-map detector: the maximum over locations vs the mean of the top k.

Synthetic ring feature maps (``dxmi.anomaly.data.ring_feature_maps``, 6 x 6 locations, 2 x 2
anomalous patches) with a nuisance third channel of pure noise: one DxMI fit per seed on 50 normal
maps, then image AUROC on 20 normal + 20 anomalous maps for every k (k = 1 is the maximum, the
baseline; k = 36 is the mean of the map), and the pixel AUROC of the upsampled maps.

    python benchmarks/feature_map_topk.py --out results/feature_map_topk.json   # about 1 min

JSON: {"seeds": [...], "k": {K: {"image_auroc": mean, "per_seed": [...]}}, "pixel_auroc": mean, ...}
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from provenance import write_json

KS = [1, 2, 4, 8, 16, 36]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="results/feature_map_topk.json", help="output JSON")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (one fit each)")
    p.add_argument("--iterations", type=int, default=500, help="DxMI iterations per fit")
    args = p.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    from dxmi.anomaly import FeatureMapDetector, image_scores, upsample_maps
    from dxmi.anomaly.data import ring_feature_maps
    from dxmi.metrics.anomaly import auroc

    seeds = [int(s) for s in args.seeds.split(",")]
    per_k: dict[int, list[float]] = {k: [] for k in KS}
    pixel: list[float] = []
    start = time.perf_counter()
    for seed in seeds:
        g = np.random.default_rng(seed)
        train = ring_feature_maps(50, 0, g, noise_channel=True)
        test = ring_feature_maps(40, 20, g, noise_channel=True)
        labels, masks = test.image_labels, test.masks
        assert labels is not None and masks is not None
        det = FeatureMapDetector(kind="dxmi", iterations=args.iterations, hidden=32, depth=2, sampler_hidden=32,
                                 batch_size=64, seed=seed).fit(train.features)
        maps = det.score_map(test.features)
        for k in KS:
            per_k[k].append(auroc(image_scores(maps, k), labels))
        up = upsample_maps(maps, masks.shape[1:])
        pixel.append(auroc(up.reshape(-1), (masks.reshape(-1) > 0.5).astype(np.int64)))
        row = "  ".join(f"k={k}: {per_k[k][-1]:.3f}" for k in KS)
        print(f"seed {seed}: image AUROC {row}  pixel AUROC {pixel[-1]:.3f}", flush=True)
    result = {
        "seeds": seeds,
        "k": {str(k): {"image_auroc": float(np.mean(v)), "per_seed": v} for k, v in per_k.items()},
        "pixel_auroc": float(np.mean(pixel)),
        "baseline": "k=1 (the maximum over locations)",
        "seconds": time.perf_counter() - start,
    }
    out = write_json(args.out, result, "feature_map_topk.py", argv)
    print("mean image AUROC: " + "  ".join(f"k={k}: {np.mean(v):.3f}" for k, v in per_k.items()))
    print(f"wrote {out} ({result['seconds']:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
