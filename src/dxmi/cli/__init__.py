"""The ``dxmi`` command."""
