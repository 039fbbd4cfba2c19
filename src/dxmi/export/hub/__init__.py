"""Files copied into an exported diffusers folder (they import torch and diffusers, not dxmi)."""
