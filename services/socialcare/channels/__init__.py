"""Channel connectors: platform webhooks and feeds in, agent replies out (ADR 0006)."""
