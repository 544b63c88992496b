"""Reading a driver until its values say what a test waits for."""

import asyncio
from collections.abc import Callable

from campuspulse.drivers import DeviceError, Driver, NoReportYet


async def read_until(driver: Driver, predicate: Callable[[dict[str, float]], bool], timeout: float = 5.0) -> dict:
    """The first values that satisfy `predicate` (a read that fails or has nothing yet is tried again)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            values = (await driver.read()).values
            if predicate(values):
                return values
        except (DeviceError, NoReportYet):
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("no matching report")
        await asyncio.sleep(0.05)
