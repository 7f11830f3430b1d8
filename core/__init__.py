"""Every decision of leadstream, as plain Python with no Faust import."""
