"""DxMI's time-conditioned UNet as a diffusers model (written by ``dxmi export``).

The exported copy of this file holds the network's definition itself and needs torch and diffusers
only (no dxmi): ``DxMIUNet(sample (B, C, H, W), timestep, class_labels=None)`` returns the predicted
noise eps in ``.sample``, as diffusers' ``UNet2DModel`` does. ``timestep`` is a float (the diffusion
index, continuous) or a (B,) tensor; ``class_labels`` (B,) long for a class-conditional network
(``num_classes`` > 0; the label ``num_classes`` is the unconditional null class).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput

from dxmi.nets.unet import UNet  # DXMI-EXPORT: the network's source replaces this line


@dataclass
class DxMIUNetOutput(BaseOutput):  # type: ignore[misc]
    sample: torch.Tensor


class DxMIUNet(ModelMixin, ConfigMixin):  # type: ignore[misc]
    """The network ``UNet(**config)`` behind the diffusers model interface (``sample_size`` is the UNet's
    ``image_size``, named as diffusers names it); its weights live under ``net.``."""

    @register_to_config
    def __init__(self, in_channels: int = 3, channels: int = 64, channel_mult: tuple[int, ...] = (1, 2, 2),
                 num_res_blocks: int = 2, attention_resolutions: tuple[int, ...] = (16,), sample_size: int = 32,
                 out_channels: int | None = None, dropout: float = 0.0, num_classes: int = 0, heads: int = 1,
                 groups: int = 32, time_scale: float = 1.0):
        super().__init__()
        self.net = UNet(in_channels, channels=channels, channel_mult=tuple(channel_mult),
                        num_res_blocks=num_res_blocks, attention_resolutions=tuple(attention_resolutions),
                        image_size=sample_size, out_channels=out_channels, dropout=dropout, num_classes=num_classes,
                        heads=heads, groups=groups, time_scale=time_scale)

    @property
    def num_classes(self) -> int:
        return int(self.config["num_classes"])

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor | float | int,
                class_labels: torch.Tensor | None = None, return_dict: bool = True) -> DxMIUNetOutput | tuple:
        t = torch.as_tensor(timestep, dtype=torch.float32, device=sample.device)
        if t.ndim == 0:
            t = t.expand(sample.shape[0])
        out = self.net(sample, t) if class_labels is None else self.net(sample, t, class_labels)
        if not return_dict:
            return (out,)
        return DxMIUNetOutput(sample=out)
