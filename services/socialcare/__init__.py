"""socialcare: event-driven social care platform."""

__version__ = "0.1.0"
