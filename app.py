"""leadstream entry point: `python app.py worker | simulate | rules | import` (CONTRACT §8).

Only `worker` (and other Faust subcommands) import Faust; the offline commands do not.
"""

from __future__ import annotations

import sys

OFFLINE_COMMANDS = {"simulate", "rules", "import"}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in OFFLINE_COMMANDS:
        from cli import main as cli_main

        sys.exit(cli_main(sys.argv[1:]))
    from streaming.worker import main as worker_main

    worker_main()


if __name__ == "__main__":
    main()
