"""offload-console: the operator console for Offload (CLI and shared settings)."""

__version__ = "0.1.0"
