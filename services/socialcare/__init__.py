"""socialcare: event-driven social care platform."""
