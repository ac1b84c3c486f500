"""socialcare.sla."""
