"""dxmi: sampling as sequential decision-making.

Time convention (used everywhere in this package, written down once here):
step index ``t = 0 .. T-1`` runs from noise to data. ``x_0`` is noise, ``x_T`` is the sample.
A policy step maps ``x_t -> x_{t+1}``; a value ``V(x, t)`` is defined for ``t = 0 .. T`` and
``V(., T)`` is the terminal cost (the energy).
"""

__version__ = "0.1.0"
