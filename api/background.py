"""One background task per event loop, for the named workers a server process runs.

An application may be started more than once, on other loops (the tests do): each
loop gets its own task. ``close`` sets the stop event and waits for the task, so
work under way finishes.
"""

from __future__ import annotations

import asyncio

__all__ = ["LoopTask"]


class LoopTask:
    """Subclasses give ``_run(stopping)`` and may say in ``_wanted`` whether to run at all."""

    def __init__(self) -> None:
        self._running: dict[asyncio.AbstractEventLoop, tuple[asyncio.Task, asyncio.Event]] = {}

    def _wanted(self) -> bool:
        return True

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._wanted() and loop not in self._running:
            stopping = asyncio.Event()
            self._running[loop] = (loop.create_task(self._run(stopping)), stopping)

    async def close(self) -> None:
        running = self._running.pop(asyncio.get_running_loop(), None)
        if running is not None:
            task, stopping = running
            stopping.set()
            await task

    async def _run(self, stopping: asyncio.Event) -> None:
        raise NotImplementedError
