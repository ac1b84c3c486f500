"""Integrator webhooks (ADR 0012): subscriptions, the fan-out of public events into
deliveries, and the sender that delivers them signed, with retries, dead letters and
replays."""
