"""The brokers a streaming test runs on, as parameter lists (tests/conftest.py `any_broker`).

Each test taking ``any_broker`` runs on the embedded Tansu and on a real Apache Kafka; the
Kafka case carries the ``kafka`` mark. A test whose Kafka case is too slow for ``make test``
takes ``BROKERS_KAFKA_SLOW`` instead (``kafka_slow`` mark: run by .ci/run's second pass):

    @pytest.mark.parametrize("any_broker", BROKERS_KAFKA_SLOW, indirect=True)
"""

from __future__ import annotations

import pytest

BROKERS = ["tansu", pytest.param("kafka", marks=pytest.mark.kafka)]
BROKERS_KAFKA_SLOW = ["tansu", pytest.param("kafka", marks=[pytest.mark.kafka,
                                                            pytest.mark.kafka_slow])]
