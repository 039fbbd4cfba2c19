"""Exports of a run's sampler to other libraries: :func:`export_diffusers` (``dxmi export``)."""

from dxmi.export.to_diffusers import EXPORT_SAMPLERS, ExportedSampler, export_diffusers, exported_sampler

__all__ = ["EXPORT_SAMPLERS", "ExportedSampler", "export_diffusers", "exported_sampler"]
