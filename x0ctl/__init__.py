"""x0ctl: operator's toolkit for the x0tta6bl4 post-quantum mesh."""

__version__ = "0.1.0"
