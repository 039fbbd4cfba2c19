"""Feature maps (N, C, H, W): per-location energies -> image AUROC and pixel AUROC, synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dxmi.anomaly import FeatureMapDetector, image_scores, load_detector, upsample_maps
from dxmi.anomaly.data import load_feature_maps, ring_feature_maps
from dxmi.anomaly.feature_maps import locations
from dxmi.metrics.anomaly import auroc


def make_maps(n: int, n_anomalous: int, g: np.random.Generator, h: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """The package's synthetic ring maps (constant third channel): features and masks.

    The pure-noise third channel variant (``noise_channel=True``) is measured, not tested, in
    ``benchmarks/feature_map_topk.py``: it needs a top-k image score. With the patch at the ring's
    centre as well (a learned hole is needed) image AUROC was 0.44. The 2-D hole is learned in
    tests/anomaly/test_detector.py."""
    fm = ring_feature_maps(n, n_anomalous, g, size=h)
    assert fm.masks is not None
    return fm.features, fm.masks


def test_locations_layout():
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    loc = locations(x)
    assert loc.shape == (8, 3)
    assert torch.equal(loc[5], x[1, :, 0, 1])  # image 1, row 0, column 1


def test_upsample_keeps_constant_maps():
    m = np.full((2, 3, 3), 7.0)
    up = upsample_maps(m, (6, 6))
    assert up.shape == (2, 6, 6) and np.allclose(up, 7.0)


def test_image_scores_top_k_mean():
    maps = np.array([[[1.0, 5.0], [3.0, -2.0]], [[0.0, 0.0], [0.0, 4.0]]])
    np.testing.assert_allclose(image_scores(maps, 1), [5.0, 4.0])  # the maximum
    np.testing.assert_allclose(image_scores(maps, 2), [4.0, 2.0])  # (5 + 3) / 2, (4 + 0) / 2
    np.testing.assert_allclose(image_scores(maps, 4), maps.reshape(2, -1).mean(1))  # all: the mean
    with pytest.raises(ValueError, match=r"top_k must be in \[1, H\*W = 4\], received 5"):
        image_scores(maps, 5)
    with pytest.raises(ValueError, match=r"expected \(N, H, W\)"):
        image_scores(maps[0], 1)
    with pytest.raises(ValueError, match="positive int"):
        FeatureMapDetector(kind="dxmi", top_k=0)


def test_feature_map_detector_image_and_pixel_auroc(tmp_path):
    g = np.random.default_rng(0)
    train, _ = make_maps(50, 0, g)
    test, masks = make_maps(40, 20, g)
    torch.save({"features": torch.tensor(test), "masks": torch.tensor(masks)[:, None]}, tmp_path / "test.pt")
    fm = load_feature_maps(tmp_path / "test.pt")
    assert fm.features.shape == (40, 3, 6, 6) and fm.masks is not None and fm.masks.shape == (40, 12, 12)
    labels = fm.image_labels
    assert labels is not None and labels.sum() == 20

    det = FeatureMapDetector(kind="dxmi", iterations=500, hidden=32, depth=2, sampler_hidden=32, batch_size=64)
    det.fit(train)
    image_auc = auroc(det.decision_function(fm.features), labels)
    maps = upsample_maps(det.score_map(fm.features), (12, 12))
    pixel_auc = auroc(maps.reshape(-1), fm.masks.reshape(-1).astype(np.int64))
    assert image_auc > 0.9, image_auc
    assert pixel_auc > 0.9, pixel_auc

    det.save(tmp_path / "det")
    back = load_detector(tmp_path / "det")
    assert isinstance(back, FeatureMapDetector) and back.top_k == 1
    np.testing.assert_allclose(back.score_map(fm.features), det.score_map(fm.features), atol=1e-6)
    det.top_k = 3  # the score rule travels with the saved detector
    det.save(tmp_path / "det3")
    back3 = load_detector(tmp_path / "det3")
    assert isinstance(back3, FeatureMapDetector) and back3.top_k == 3
    np.testing.assert_allclose(back3.decision_function(fm.features),
                               image_scores(det.score_map(fm.features), 3), atol=1e-6)
    with pytest.raises(ValueError, match=r"expected \(N, C, H, W\)"):
        det.score_map(fm.features[0])


def test_npy_feature_maps_with_sibling_masks(tmp_path):
    g = np.random.default_rng(1)
    feats, masks = make_maps(4, 2, g)
    np.save(tmp_path / "f.npy", feats)
    np.save(tmp_path / "f_masks.npy", masks)
    fm = load_feature_maps(tmp_path / "f.npy")
    assert fm.masks is not None and fm.image_labels is not None and fm.image_labels.tolist() == [0, 0, 1, 1]
    (tmp_path / "x.txt").write_text("1 2 3")
    with pytest.raises(ValueError, match="unsupported"):
        load_feature_maps(tmp_path / "x.txt")
    with pytest.raises(ValueError, match=r"expected \(N, C, H, W\)"):
        np.save(tmp_path / "bad.npy", feats[0])
        load_feature_maps(tmp_path / "bad.npy")
