"""socialcare.core."""
