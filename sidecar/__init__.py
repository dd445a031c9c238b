"""The webhook sidecar: receives Offload's webhooks and stores them durably and idempotently."""
