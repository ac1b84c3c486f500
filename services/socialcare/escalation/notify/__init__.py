"""Notifications: escalations and crisis incidents told to people outside the console, by
signed webhooks (Slack-compatible) and e-mail. See `processor` for the delivery guarantee."""
