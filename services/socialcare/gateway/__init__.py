"""socialcare.gateway."""
