"""One module per wire format: each turns requests into domain objects and results into answers."""
