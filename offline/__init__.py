"""Offline commands over files: simulate and import."""
