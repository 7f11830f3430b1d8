"""Give topics explicit retention configs: the embedded broker (Tansu 0.6) answers
DescribeConfigs with only the configs a topic was created with, and Quix Streams reads
`retention.ms` of its input topic to configure its changelogs (KeyError without it).
IncrementalAlterConfigs (Tansu has it; not the legacy AlterConfigs).

    python tansu_fix.py BOOTSTRAP TOPIC...
"""

from __future__ import annotations

import sys

from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource


def main(bootstrap: str, topics: list[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    entries = [ConfigEntry(name, "-1", incremental_operation=AlterConfigOpType.SET)
               for name in ("retention.ms", "retention.bytes")]
    res = [ConfigResource("topic", t, incremental_configs=entries) for t in topics]
    for fut in admin.incremental_alter_configs(res).values():
        fut.result(10)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
