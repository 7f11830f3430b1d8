"""One typed object for the RocksDB options of every table partition.

Faust opens one RocksDB instance per table per assigned partition, and its defaults let each
grow a 2 GiB block cache and 3 x 64 MiB write buffers (NOTES-stack). With 3 tables and 4
partitions on one worker that is 12 instances: the caps here bound them to
``12 x (block_cache + write_buffers)`` = 12 x 16 MiB by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class RocksOptions:
    block_cache_size: int = 8 * MiB
    write_buffer_size: int = 4 * MiB
    max_write_buffer_number: int = 2
    target_file_size_base: int = 16 * MiB
    max_open_files: int = 256
    bloom_filter_size: int = 10  # bits per key
    driver: str = "rocksdict"

    @classmethod
    def from_settings(cls, block_cache_mb: int, write_buffer_mb: int) -> RocksOptions:
        return cls(block_cache_size=block_cache_mb * MiB, write_buffer_size=write_buffer_mb * MiB)

    @property
    def memory_cap(self) -> int:
        """Bytes one instance may hold in its block cache and write buffers."""
        return self.block_cache_size + self.write_buffer_size * self.max_write_buffer_number

    def as_table_options(self) -> dict[str, Any]:
        """A fresh dict for ``app.Table(options=...)``.

        Always a new dict: faust's RocksDB store pops ``driver`` / ``read_only`` out of the
        mapping it is given, so a shared dict would lose them for the next store.
        """
        return {
            "driver": self.driver,
            "block_cache_size": self.block_cache_size,
            "write_buffer_size": self.write_buffer_size,
            "max_write_buffer_number": self.max_write_buffer_number,
            "target_file_size_base": self.target_file_size_base,
            "max_open_files": self.max_open_files,
            "bloom_filter_size": self.bloom_filter_size,
        }
