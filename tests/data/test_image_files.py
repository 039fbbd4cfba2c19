"""Image loaders on fixtures the tests write: folders of PNG/JPEG, .npy/.npz arrays, CIFAR-10 batches."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from dxmi.data.image_files import ImageData, load_cifar10, load_image_array, load_image_folder, load_images


def rng_images(n, h=6, w=5, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, c), dtype=np.uint8)


def expected(nhwc: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(nhwc.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1)


# -- folders --------------------------------------------------------------------------------------------
def test_flat_folder_of_pngs_is_exact(tmp_path):
    imgs = rng_images(4)
    for i, a in enumerate(imgs):
        Image.fromarray(a).save(tmp_path / f"{i:02d}.png")
    (tmp_path / "notes.txt").write_text("ignored")
    d = load_image_folder(tmp_path)
    assert d.labels is None and d.sample_shape == (3, 6, 5)
    torch.testing.assert_close(d.images, expected(imgs), rtol=0, atol=1e-6)
    assert float(d.images.min()) >= -1 and float(d.images.max()) <= 1


def test_class_subfolders_give_labels_and_grey_mode(tmp_path):
    grey = rng_images(5, c=1)[..., 0]
    for i, a in enumerate(grey):
        cls = "cat" if i < 2 else "dog"
        (tmp_path / cls).mkdir(exist_ok=True)
        Image.fromarray(a, mode="L").save(tmp_path / cls / f"{i}.png")
    d = load_image_folder(tmp_path)
    assert d.class_names == ("cat", "dog") and d.labels.tolist() == [0, 0, 1, 1, 1]
    assert d.sample_shape == (1, 6, 5)
    torch.testing.assert_close(d.images[:, 0], torch.from_numpy(grey.astype(np.float32) / 127.5 - 1))
    rgb = load_image_folder(tmp_path, mode="RGB")
    assert rgb.sample_shape == (3, 6, 5) and torch.equal(rgb.images[:, 0], rgb.images[:, 2])
    x, y = d.sample_labelled(7, torch.Generator().manual_seed(0))
    assert x.shape == (7, 1, 6, 5) and y.shape == (7,)


def test_jpeg_and_resize(tmp_path):
    Image.fromarray(rng_images(1, 10, 12)[0]).save(tmp_path / "a.jpg", quality=95)
    Image.fromarray(rng_images(1, 8, 8, seed=1)[0]).save(tmp_path / "b.png")
    with pytest.raises(ValueError, match="pass size= to resize"):
        load_image_folder(tmp_path)
    d = load_image_folder(tmp_path, size=(4, 6))
    assert d.images.shape == (2, 3, 4, 6)


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="no images"):
        load_image_folder(tmp_path)
    Image.fromarray(rng_images(1)[0]).save(tmp_path / "top.png")
    (tmp_path / "sub").mkdir()
    Image.fromarray(rng_images(1)[0]).save(tmp_path / "sub" / "x.png")
    with pytest.raises(ValueError, match="both at the top level and in subfolders"):
        load_image_folder(tmp_path)
    (tmp_path / "sub" / "x.png").unlink()
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="not a readable image"):
        load_image_folder(tmp_path)


# -- arrays ---------------------------------------------------------------------------------------------
def test_npy_layouts_and_ranges(tmp_path):
    imgs = rng_images(3)
    np.save(tmp_path / "nhwc.npy", imgs)
    torch.testing.assert_close(load_image_array(tmp_path / "nhwc.npy").images, expected(imgs), rtol=0, atol=1e-6)
    unit = imgs.transpose(0, 3, 1, 2).astype(np.float32) / 255.0  # NCHW in [0, 1]
    np.save(tmp_path / "nchw01.npy", unit)
    torch.testing.assert_close(load_image_array(tmp_path / "nchw01.npy").images, expected(imgs), atol=1e-6, rtol=0)
    sym = unit * 2 - 1
    sym[0, 0, 0, 0] = -1.0  # [-1, 1] data is kept as is
    np.save(tmp_path / "sym.npy", sym)
    torch.testing.assert_close(load_image_array(tmp_path / "sym.npy").images, torch.from_numpy(sym))
    np.save(tmp_path / "grey.npy", imgs[..., 0])  # (N, H, W)
    assert load_image_array(tmp_path / "grey.npy").sample_shape == (1, 6, 5)
    np.save(tmp_path / "f255.npy", imgs.astype(np.float64))
    torch.testing.assert_close(load_image_array(tmp_path / "f255.npy").images, expected(imgs), atol=1e-6, rtol=0)


def test_npz_with_labels_and_dispatch(tmp_path):
    imgs, y = rng_images(4), np.array([3, 1, 0, 3])
    np.savez(tmp_path / "d.npz", x=imgs, y=y)
    d = load_images(tmp_path / "d.npz")
    assert d.labels.tolist() == [3, 1, 0, 3] and d.num_classes == 4
    torch.testing.assert_close(d.images, expected(imgs), rtol=0, atol=1e-6)
    np.savez(tmp_path / "k.npz", pics=imgs)
    assert len(load_image_array(tmp_path / "k.npz")) == 4  # a single array: taken whatever its name
    np.savez(tmp_path / "two.npz", a=imgs, b=imgs)
    with pytest.raises(ValueError, match="pass key="):
        load_image_array(tmp_path / "two.npz")
    assert len(load_image_array(tmp_path / "two.npz", key="b")) == 4


def test_array_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_image_array(tmp_path / "none.npy")
    bad = rng_images(2).astype(np.float32) / 255
    bad[1, 2, 3, 0] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(ValueError, match="1 pixel values are NaN"):
        load_image_array(tmp_path / "nan.npy")
    np.save(tmp_path / "shape.npy", np.zeros((2, 5, 5, 5), np.uint8))
    with pytest.raises(ValueError, match="no channel axis"):
        load_image_array(tmp_path / "shape.npy")
    np.save(tmp_path / "amb.npy", np.zeros((2, 3, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="ambiguous"):
        load_image_array(tmp_path / "amb.npy")
    assert load_image_array(tmp_path / "amb.npy", layout="nhwc").sample_shape == (3, 3, 4)
    np.save(tmp_path / "range.npy", np.full((2, 4, 4, 3), 300.0))
    with pytest.raises(ValueError, match="pass value_range"):
        load_image_array(tmp_path / "range.npy")
    over = np.linspace(-1.2, 1.1, 2 * 3 * 4 * 4).reshape(2, 3, 4, 4)  # generated samples overshoot [-1, 1]
    np.save(tmp_path / "over.npy", over)
    with pytest.raises(ValueError, match="outside value_range"):
        load_image_array(tmp_path / "over.npy", value_range=(-1, 1))
    clipped = load_image_array(tmp_path / "over.npy", value_range=(-1, 1), clip=True).images
    torch.testing.assert_close(clipped, torch.from_numpy(np.clip(over, -1, 1)).float())
    with pytest.raises(ValueError, match="needs an explicit value_range"):
        load_image_array(tmp_path / "over.npy", clip=True)
    np.save(tmp_path / "vec.npy", np.zeros((2, 3)))
    with pytest.raises(ValueError, match="expected images"):
        load_image_array(tmp_path / "vec.npy")
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(ValueError, match="unsupported file type"):
        load_image_array(tmp_path / "x.csv")
    with pytest.raises(ValueError, match="expected images"):
        ImageData(torch.zeros(2, 4, 8, 8))


# -- CIFAR-10 -------------------------------------------------------------------------------------------
def write_cifar(folder, per_batch=3):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=per_batch)]
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data,
                         b"filenames": [b"f.png"] * per_batch}, f)
        batches[name] = (data, labels)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [n.encode() for n in names], b"num_vis": 3072}, f)
    return batches


def test_cifar10_batches(tmp_path):
    batches = write_cifar(tmp_path / "cifar-10-batches-py")
    train = load_cifar10(tmp_path)  # the parent folder works too
    assert len(train) == 15 and train.sample_shape == (3, 32, 32) and train.class_names[0] == "airplane"
    data2, labels2 = batches["data_batch_2"]
    torch.testing.assert_close(train.images[3:6], torch.from_numpy(data2.reshape(3, 3, 32, 32) / 127.5 - 1).float(),
                               rtol=0, atol=1e-6)
    assert train.labels[3:6].tolist() == labels2
    test = load_images(tmp_path / "cifar-10-batches-py", split="test")
    assert len(test) == 3 and test.labels.tolist() == batches["test_batch"][1]


def test_cifar10_errors(tmp_path):
    write_cifar(tmp_path / "c")
    os.remove(tmp_path / "c" / "data_batch_4")
    with pytest.raises(FileNotFoundError, match=r"missing CIFAR-10 batch file\(s\) \['data_batch_4'\]"):
        load_cifar10(tmp_path / "c")
    with pytest.raises(ValueError, match="split must be"):
        load_cifar10(tmp_path / "c", split="val")

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with open(tmp_path / "c" / "test_batch", "wb") as f:
        pickle.dump({b"data": Evil()}, f)
    with pytest.raises(ValueError, match="refusing to load"):
        load_cifar10(tmp_path / "c", split="test")
    with open(tmp_path / "c" / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(ValueError, match=r"expected data \(n, 3072\) uint8"):
        load_cifar10(tmp_path / "c", split="test")


def test_image_files_reach_the_run_config(tmp_path):
    """`data.name=images` / `cifar10` with `data.path` builds the run's dataset from files."""
    from dxmi.config import ConfigError, load_config
    from dxmi.experiment import build_dataset, data_shape

    arr = np.random.default_rng(0).integers(0, 256, size=(5, 8, 8, 3), dtype=np.uint8)
    np.save(tmp_path / "imgs.npy", arr)
    ds = build_dataset(load_config("digits", ["data.name=images", f"data.path={tmp_path / 'imgs.npy'}"]))
    assert data_shape(ds) == (3, 8, 8) and len(ds) == 5
    assert torch.allclose(ds.images[0, 0], torch.as_tensor(arr[0, :, :, 0] / 127.5 - 1.0, dtype=torch.float32),
                          atol=1e-6)
    assert ds.labels is None and isinstance(ds, ImageData)
    with pytest.raises(ValueError, match="needs labelled images"):  # classifier metrics need labels
        ds.sample_labelled(2)
    from dxmi.experiment import image_metrics

    with pytest.raises(ValueError, match="dxmi fid"):
        image_metrics(load_config("digits", [f"out={tmp_path / 'run'}"]), ds)
    with pytest.raises(ConfigError, match="needs data.path"):
        build_dataset(load_config("cifar10_t10", ["data.path=null"]))


def test_imagenet_presets_read_a_labelled_npz_and_train_class_conditionally(tmp_path):
    """The ImageNet-64 presets (class-conditional EDM) name a loader that exists, and their data source
    gives (image, label) batches; an unlabelled file is refused with the reason."""
    from dxmi.config import load_config
    from dxmi.experiment import build_dataset, data_source
    from dxmi.records import LabelledBatch

    arr = np.random.default_rng(0).integers(0, 256, size=(6, 64, 64, 3), dtype=np.uint8)
    np.savez(tmp_path / "in64.npz", images=arr, labels=np.array([0, 5, 999, 3, 3, 7]))
    np.save(tmp_path / "unlabelled.npy", arr)
    for preset in ("imagenet64_t4", "imagenet64_t10"):
        cfg = load_config(preset, [f"data.path={tmp_path / 'in64.npz'}", "device=cpu"])
        assert cfg.pretrain.net.num_classes == 1000
        ds = build_dataset(cfg)
        batch = data_source(ds, classes=1000)(4, torch.Generator().manual_seed(0))
        assert isinstance(batch, LabelledBatch) and batch.x.shape == (4, 3, 64, 64)
        assert set(batch.y.tolist()) <= {0, 5, 999, 3, 7}
        unlabelled = build_dataset(load_config(preset, [f"data.path={tmp_path / 'unlabelled.npy'}"]))
        with pytest.raises(ValueError, match="class-conditional training"):
            data_source(unlabelled, classes=1000)
