"""socialcare.escalation."""
