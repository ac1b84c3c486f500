"""Generated from proto/socialcare/v1 by `make proto`."""
