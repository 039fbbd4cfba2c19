"""Plots people would rather look at than read: samples vs data, energy landscape, trajectories
over t, learning curves. matplotlib is imported lazily with the Agg backend (headless)."""

from dxmi.viz.plots import plot_energy, plot_learning_curves, plot_samples, plot_trajectories

__all__ = ["plot_energy", "plot_learning_curves", "plot_samples", "plot_trajectories"]
