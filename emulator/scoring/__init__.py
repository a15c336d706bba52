"""The scoring-process side: the bootstrap every scoring process runs, and the PRS shim.

Everything under this package that runs inside a scoring process uses the standard library
only, so it works in any interpreter (isolated environments included).
"""
