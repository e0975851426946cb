"""One module per tab; each exposes build_*() that creates its components and wires its events."""
