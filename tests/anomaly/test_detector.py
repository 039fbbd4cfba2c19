"""dxmi.anomaly detectors: the quadratic base energy, the Langevin baseline, the detectors learn,
save/load, typed options, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dxmi.algorithms import LangevinCD, LangevinCDConfig
from dxmi.anomaly import DxMIDetector, Standardizer, VGSEBMDetector, load_detector, make_detector
from dxmi.energies import MLPEnergy
from dxmi.metrics.anomaly import auroc
from dxmi.policies import DDPMSubsequencePolicy

SMALL = dict(hidden=32, depth=2, sampler_hidden=32, batch_size=64)


def test_whitened_detector_round_trips(tmp_path):
    g = np.random.default_rng(2)
    x = g.normal(size=(300, 4)) @ np.array([[1.0, 0.9, 0, 0], [0, 0.3, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]])
    det = make_detector("dxmi", iterations=5, whiten=True, **SMALL).fit(x)
    assert det.standardizer is not None and det.standardizer.whiten is not None
    # the default network sees the standardised inputs: its input map is W^-1, z W W^-1 = s(x)
    st, energy = det.standardizer, det.energy
    assert energy is not None and energy.net_input is not None
    xt = torch.as_tensor(x[:20], dtype=torch.float32)
    torch.testing.assert_close(st(xt) @ energy.net_input, (xt - st.mean) / st.std, atol=1e-4, rtol=1e-4)
    assert make_detector("dxmi", iterations=5, whiten_net=True, **SMALL).fit(x).energy.net_input is None
    det.save(tmp_path / "w")
    back = load_detector(tmp_path / "w")
    np.testing.assert_allclose(back.decision_function(x), det.decision_function(x), rtol=1e-6, atol=1e-6)


# -- energy and the MCMC baseline ----------------------------------------------------------------
def test_quadratic_base_energy_is_not_regularised():
    e = MLPEnergy(4, hidden=8, depth=1, quadratic=2.0)
    x = torch.randn(10, 4)
    out = e(x)
    net = e.net(x).squeeze(-1)
    assert torch.allclose(out, net + 2.0 * 0.5 * (x**2).mean(1), atol=1e-6)
    assert torch.allclose(e.magnitude(x, out), net, atol=1e-6)
    # a fixed input map M reaches the network only: E(x) = net(x M) + base(x), saved with the weights
    m = torch.randn(4, 4)
    em = MLPEnergy(4, hidden=8, depth=1, quadratic=2.0, net_input=m)
    em.net.load_state_dict(e.net.state_dict())
    assert torch.allclose(em(x), e.net(x @ m).squeeze(-1) + 2.0 * 0.5 * (x**2).mean(1), atol=1e-5)
    assert torch.equal(em.state_dict()["net_input"], m)
    with pytest.raises(ValueError, match=r"\(4, 4\) matrix, received shape \(3, 4\)"):
        MLPEnergy(4, net_input=torch.zeros(3, 4))


def test_langevin_samples_the_gaussian_of_a_quadratic_energy():
    # E(x) = 0.5 |x|^2 (quadratic = D, network output zeroed): Langevin's stationary law is N(0, I).
    d = 3
    e = MLPEnergy(d, hidden=4, depth=1, quadratic=float(d))
    for p in e.net.parameters():
        torch.nn.init.zeros_(p)
    algo = LangevinCD(e, LangevinCDConfig(batch_size=4000, langevin_steps=300, step_size=0.02, init_scale=3.0),
                      torch.Generator().manual_seed(0))
    x = algo.negatives(4000)
    assert abs(float(x.var(0).mean()) - 1.0) < 0.08
    assert float(x.mean(0).abs().max()) < 0.08


# -- the detectors learn ---------------------------------------------------------------------------
def ring(n: int, g: np.random.Generator) -> np.ndarray:
    a = g.uniform(0, 2 * np.pi, n)
    return np.stack([2 * np.cos(a), 2 * np.sin(a)], 1) + 0.1 * g.normal(size=(n, 2))


def test_dxmi_detector_learns_what_the_base_energy_cannot():
    # Normal data on a ring; anomalies at its centre. The quadratic base energy alone ranks the
    # centre as the most normal point (AUROC ~ 0): only the trained energy can get this right.
    g = np.random.default_rng(0)
    train, normal_test = ring(2000, g), ring(200, g)
    anomalies = 0.3 * g.normal(size=(100, 2))
    x_test = np.concatenate([normal_test, anomalies])
    y_test = np.r_[np.zeros(200), np.ones(100)].astype(int)
    untrained = make_detector("dxmi", iterations=1, **SMALL)
    untrained.standardizer = Standardizer.fit(torch.tensor(train, dtype=torch.float32))
    untrained.energy = untrained.build_energy(untrained.standardizer).eval()
    assert auroc(untrained.decision_function(x_test), y_test) < 0.2
    # the default 128 x 3 energy: with 32 x 2 and the slow default sampler (sampler_lr 3e-5) the
    # hole needs about 1000 iterations (AUROC 0.0 at 500, 1.0 at 1000; measured at energy_lr 1e-3)
    det = make_detector("dxmi", iterations=500, sampler_hidden=32, batch_size=64).fit(train)
    assert isinstance(det, DxMIDetector)
    assert auroc(det.decision_function(x_test), y_test) > 0.9
    assert det.decision_scores_ is not None and det.decision_scores_.shape == (2000,)
    assert 0.05 < det.predict(train).mean() < 0.15  # contamination 0.1 of the training scores


def test_pretrained_ddpm_sampler_reproduces_the_data(tmp_path):
    # pretrain_iterations > 0: a DDPM fitted to the standardised ring, cut to a T-step subsequence,
    # is DxMI's sampler. Before any DxMI step its samples must already be a ring, where the
    # from-scratch sampler starts as N(0, I) (radius std 0.66, 27 % of the mass inside radius 0.8).
    torch.set_num_threads(1)
    train = ring(2000, np.random.default_rng(0))
    det = make_detector("dxmi", iterations=1, **SMALL, pretrain_iterations=1500, pretrain_hidden=64, num_steps=10,
                        whiten=False)
    assert isinstance(det, DxMIDetector)
    st = Standardizer.fit(torch.tensor(train, dtype=torch.float32))
    data = st(torch.tensor(train, dtype=torch.float32))
    algo = det.build_algorithm(det.build_energy(st), data, torch.Generator().manual_seed(0), tmp_path / "run")
    assert isinstance(algo.policy, DDPMSubsequencePolicy) and algo.policy.num_steps == 10
    assert (tmp_path / "run" / "pretrain" / "checkpoints").is_dir()  # its own resumable run
    with torch.no_grad():
        r = algo.policy.sample(4000, torch.Generator().manual_seed(1)).norm(dim=1)
    r_data = data.norm(dim=1)  # about 1.41 +- 0.07
    assert abs(float(r.mean() - r_data.mean())) < 0.2, (float(r.mean()), float(r_data.mean()))
    assert float(r.std()) < 0.3, float(r.std())
    assert float((r < 0.8).float().mean()) < 0.05
    with pytest.raises(ValueError, match="diffusion_steps"):
        make_detector("dxmi", num_steps=10, diffusion_steps=5)


def test_vgs_detector_learns_the_ring_hole_and_round_trips(tmp_path):
    # The same ring: VGS negatives (a value-gradient sampler tracking the energy, no MCMC) must also
    # teach the energy the hole, and the saved detector must score exactly as the fitted one. With
    # VGS the default 128 x 3 energy is needed: 32 x 2, 64 x 2 and 32 x 3 keep the centre lowest at
    # 300-500 iterations (AUROC 0) although a quarter of the negatives fall inside radius 0.8.
    g = np.random.default_rng(0)
    train, normal_test = ring(2000, g), ring(200, g)
    x_test = np.concatenate([normal_test, 0.3 * g.normal(size=(100, 2))])
    y_test = np.r_[np.zeros(200), np.ones(100)].astype(int)
    det = make_detector("vgs_ebm", iterations=300, value_hidden=32, batch_size=64).fit(train)
    assert isinstance(det, VGSEBMDetector)
    assert auroc(det.decision_function(x_test), y_test) > 0.9
    det.save(tmp_path / "vgs")
    back = load_detector(tmp_path / "vgs")
    assert isinstance(back, VGSEBMDetector)
    np.testing.assert_allclose(back.decision_function(x_test), det.decision_function(x_test), rtol=1e-6, atol=1e-6)


def test_save_load_roundtrip_and_input_errors(tmp_path):
    g = np.random.default_rng(1)
    x = g.normal(size=(300, 5)) * 3 + 1
    det = make_detector("langevin_ebm", iterations=20, langevin_steps=5, hidden=16, depth=1, batch_size=32).fit(x)
    det.save(tmp_path / "m")
    back = load_detector(tmp_path / "m")
    np.testing.assert_allclose(back.decision_function(x), det.decision_function(x), rtol=1e-6, atol=1e-6)
    assert back.predict(x).tolist() == det.predict(x).tolist()
    with pytest.raises(ValueError, match=r"fitted on 5 features, received shape \(3, 4\)"):
        det.decision_function(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="NaN"):
        det.fit(np.full((3, 5), np.nan))
    with pytest.raises(ValueError, match="unknown dxmi option"):
        make_detector("dxmi", not_an_option=1)
    with pytest.raises(FileNotFoundError):
        load_detector(tmp_path / "missing")


def test_make_detector_types_options_like_a_run_config():
    from dxmi.anomaly import make_detector

    det = make_detector("dxmi", energy_lr="3e-4", iterations=7)  # YAML 1.1 reads 3e-4 as a string
    assert det.config.energy_lr == 3e-4 and isinstance(det.config.energy_lr, float)
    assert det.config.iterations == 7
    with pytest.raises(ValueError, match="expected a number"):
        make_detector("langevin_ebm", step_size="fast")


@pytest.mark.parametrize("kind,extra", [("dxmi", {}), ("langevin_ebm", {}),
                                        ("dxmi", {"pretrain_iterations": 20, "pretrain_hidden": 16})])
def test_fit_resumes_exactly_and_can_train_further(tmp_path, kind, extra):
    """An interrupted fit (15 of 30 iterations) resumed in its workdir scores exactly like an
    uninterrupted 30-iteration fit: the sampler / value / optimisers, the data generator and the
    energy's moving average all come back from the checkpoint (and a pretrained sampler's DDPM
    from its own run in workdir/pretrain)."""
    torch.set_num_threads(1)
    x = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32)
    opts = dict(hidden=16, depth=1, batch_size=32, **({"sampler_hidden": 16} if kind == "dxmi" else {}), **extra)
    test = np.random.default_rng(1).normal(size=(50, 3)).astype(np.float32) * 2
    straight = make_detector(kind, iterations=30, **opts).fit(x).decision_function(test)
    make_detector(kind, iterations=15, **opts).fit(x, workdir=tmp_path / "run", ckpt_every=5)
    resumed = make_detector(kind, iterations=30, **opts).fit(x, workdir=tmp_path / "run", resume=True)
    np.testing.assert_allclose(resumed.decision_function(test), straight, rtol=0, atol=1e-6)
    # a fresh fit (resume=False) in the same folder starts over: not the 30-iteration model
    fresh = make_detector(kind, iterations=15, **opts).fit(x, workdir=tmp_path / "run")
    assert np.abs(fresh.decision_function(test) - straight).max() > 1e-4


def test_fit_resume_refuses_other_settings_or_data(tmp_path):
    x = np.random.default_rng(0).normal(size=(100, 2)).astype(np.float32)
    make_detector("langevin_ebm", iterations=3, hidden=8, depth=1).fit(x, workdir=tmp_path)
    with pytest.raises(ValueError, match="different gamma"):
        make_detector("langevin_ebm", iterations=6, hidden=8, depth=1, gamma=1.0).fit(x, workdir=tmp_path, resume=True)
    with pytest.raises(ValueError, match="different data_sha1"):
        make_detector("langevin_ebm", iterations=6, hidden=8, depth=1).fit(x + 1, workdir=tmp_path, resume=True)
    with pytest.raises(ValueError, match="needs the workdir"):
        make_detector("langevin_ebm", iterations=6).fit(x, resume=True)
