"""Streaming side of leadstream (Faust app, topics, embedded broker).

Keep this file free of imports: ``streaming.broker`` and ``streaming.embedded_redis``
must stay importable without Faust.
"""
