"""A local stand-in for Offload: its documented API over real HTTP, real webhooks, and
scripted counterparties chosen by ``metadata.sandboxScenario``."""
