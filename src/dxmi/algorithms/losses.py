"""Losses shared by several algorithms."""

from __future__ import annotations

from torch import Tensor

from dxmi.energies.base import Energy


def contrastive_divergence(energy: Energy, data: Tensor, e_data: Tensor, samples: Tensor, e_model: Tensor,
                           gamma: float) -> Tensor:
    """The energy's contrastive-divergence loss against model samples (DxMI's energy step,
    LangevinCD, EBM-VGS)::

        L_E = mean E(data) - mean E(samples) + gamma (mean m(data)^2 + mean m(samples)^2),

    ``m = energy.magnitude`` (the energy less any fixed base term; parameter-free, so it is called
    on the plain module even when ``e_data`` / ``e_model`` come from a DDP wrapper). ``e_data``
    ``(B,)`` and ``e_model`` ``(N,)`` are the energies of ``data`` and ``samples``; ``gamma = 0``
    leaves out the magnitude term.
    """
    loss = e_data.mean() - e_model.mean()
    if gamma > 0:
        m_data, m_model = energy.magnitude(data, e_data), energy.magnitude(samples, e_model)
        loss = loss + gamma * ((m_data**2).mean() + (m_model**2).mean())
    return loss
