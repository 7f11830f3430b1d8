"""leadstream entry point: `python app.py COMMAND` (CONTRACT §8; `--help` lists them).

`worker` runs the Faust worker (streaming/worker.py); every other command is in cli.py and
imports no Faust.
"""

from __future__ import annotations

import sys


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        from streaming.worker import main as worker_main

        worker_main()
        return
    from cli import main as cli_main

    sys.exit(cli_main(sys.argv[1:]))


if __name__ == "__main__":
    main()
