"""annoq."""
