"""The admin's rule language: config schema, loading, versioning and condition evaluation.

Nothing here imports Faust: the same rules drive `simulate` and the streaming job.
"""
