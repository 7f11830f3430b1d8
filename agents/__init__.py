"""Thin Faust agents: decode, load state, call the core, send results, write state."""
