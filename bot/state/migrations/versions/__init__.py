"""One script per schema revision, named by its number; each one is frozen once released."""
