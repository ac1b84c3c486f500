"""socialcare.routing."""
