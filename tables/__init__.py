"""Faust tables of the streaming job (RocksDB through rocksdict) and their memory caps."""
