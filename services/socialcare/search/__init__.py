"""socialcare.search."""
