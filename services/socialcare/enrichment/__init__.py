"""socialcare.enrichment."""
