"""socialcare.indexer: the search projection of cases, messages and escalations."""
