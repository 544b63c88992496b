"""Garbage-collector settings for long-running processes."""

import gc


def settle_heap(young_threshold: int | None = None) -> None:
    """Keep what start-up made (modules, settings, mappings) out of every later collection's scan.

    A batch worker that allocates many short-lived, acyclic objects (freed by reference counting anyway)
    passes a larger `young_threshold` to run the cyclic collector less often.
    """
    gc.freeze()
    if young_threshold is not None:
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(young_threshold, older, oldest)
