"""The model zoo: a registry of named variants with their papers' numbers."""
