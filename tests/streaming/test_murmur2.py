"""streaming/murmur2.py gives the values of aiokafka's murmur2 and DefaultPartitioner."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.murmur2 import murmur2, partition_of


@settings(max_examples=2000)
@given(st.binary(max_size=80))
def test_same_hash_as_aiokafka(data: bytes) -> None:
    assert murmur2(data) == aiokafka_murmur2(data) & 0xFFFFFFFF


@given(st.binary(min_size=1, max_size=40), st.integers(min_value=1, max_value=64))
def test_same_partition_as_the_default_partitioner(key: bytes, n: int) -> None:
    parts = list(range(n))
    assert partition_of(key, parts) == DefaultPartitioner()(key, parts, parts)


def test_every_tail_length_and_long_keys() -> None:
    for n in range(0, 300):
        data = bytes((i * 131 + 7) % 256 for i in range(n))
        assert murmur2(data) == aiokafka_murmur2(data) & 0xFFFFFFFF, n
