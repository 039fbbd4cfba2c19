"""Classifier-feature metrics for images: a small classifier trained on the dataset; FD and
precision/recall in its features; the cache in the run folder."""

from __future__ import annotations

import pytest
import torch

from dxmi.metrics.classifier import ClassifierFeatureMetrics, load_or_train_classifier


@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn")
    from dxmi.data.images import load_digits

    return load_digits()


def test_classifier_learns_and_is_cached(digits, tmp_path):
    path = tmp_path / "clf.safetensors"
    clf, fit = load_or_train_classifier(path, digits.images, digits.labels, seed=0, steps=300)
    assert fit.held_out_accuracy > 0.9, fit
    assert path.is_file()
    again, fit2 = load_or_train_classifier(path, digits.images, digits.labels, seed=123, steps=1)
    assert fit2 == fit  # read from the cache, not retrained
    x = digits.images[:50]
    with torch.no_grad():
        assert torch.allclose(clf.features(x), again.features(x))

    assert sorted(p.name for p in tmp_path.iterdir()) == ["clf.safetensors"]  # written atomically, no temp file left

    metric = ClassifierFeatureMetrics(clf, digits.images)
    a, b = digits.split(0.5, seed=1)
    same = metric(a.images)
    g = torch.Generator().manual_seed(0)
    noisy = metric((a.images + 0.5 * torch.randn(a.images.shape, generator=g)).clamp(-1, 1))
    one_class = metric(digits.images[digits.labels == 3])
    # held-out real digits are close; corrupted digits are far; a single class loses recall
    assert same.fd < 0.2 * noisy.fd
    assert same.precision > 0.9 and same.recall > 0.9
    assert one_class.recall < 0.5 < same.recall
    assert same.n_samples == len(a) and same.n_reference == len(digits)
    with pytest.raises(ValueError, match="received"):
        metric(torch.zeros(10, 1, 7, 7))


@pytest.mark.parametrize("content", [b"", b"not a safetensors file", "other"])
def test_a_classifier_cache_that_does_not_load_is_retrained_with_a_warning(digits, tmp_path, content):
    path = tmp_path / "clf.safetensors"
    if content == "other":  # a cache of another classifier: 5 classes
        load_or_train_classifier(path, digits.images, digits.labels % 5, steps=1)
    else:
        path.write_bytes(content)
    with pytest.warns(UserWarning, match=r"clf\.safetensors: .*training the classifier again"):
        _, fit = load_or_train_classifier(path, digits.images, digits.labels, steps=2)
    assert fit.steps == 2
    assert load_or_train_classifier(path, digits.images, digits.labels, steps=1)[1] == fit  # the new cache
