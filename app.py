"""leadstream entry point: `python app.py COMMAND` (CONTRACT §8; `--help` lists them).

Every command is in cli.py; only `worker` imports Faust (job/worker.py).
"""

from __future__ import annotations

import sys


def main() -> None:
    from cli import main as cli_main

    sys.exit(cli_main(sys.argv[1:]))


if __name__ == "__main__":
    main()
