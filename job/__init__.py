"""The composition root: builds the Faust app, its tables, agents and web views
(`job.app.create_app`) and runs the worker process (`job.worker`). Nothing imports `job`
but the command line (cli.py)."""
