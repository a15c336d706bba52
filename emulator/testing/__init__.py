"""What the pytest plugin hands to tests (``BatchEmulator``, ``BatchJobResult``,
``score_mini_batch``); usable without pytest too. The plugin itself is
``emulator.testing.plugin``."""

from __future__ import annotations

__all__ = ["BatchEmulator", "BatchJobError", "BatchJobResult", "MiniBatchOutcome",
           "score_mini_batch"]


def __getattr__(name: str):
    # Lazy: pytest loads the plugin (this package) in every run of every project that has
    # the emulator installed; the engine is imported only by tests that use it.
    if name in ("BatchEmulator", "BatchJobError", "BatchJobResult"):
        from emulator.testing import harness  # lazy, as above

        return getattr(harness, name)
    if name in ("MiniBatchOutcome", "score_mini_batch"):
        from emulator import service  # lazy, as above

        return getattr(service, name)
    raise AttributeError(f"module 'emulator.testing' has no attribute {name!r}")
