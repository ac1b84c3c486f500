"""socialcare.ingestion."""
