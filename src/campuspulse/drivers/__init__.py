"""Device drivers: each turns one device family into observations. No MQTT, no storage."""

from typing import Annotated

from pydantic import Field

from campuspulse.drivers.base import DeviceError, Driver, Observation
from campuspulse.drivers.pjlink import PjlinkConfig, PjlinkDriver
from campuspulse.drivers.serial_line import SerialLineConfig, SerialLineDriver
from campuspulse.drivers.simulated import SimulatedDevice, SimulatedDeviceConfig

DriverConfig = Annotated[SimulatedDeviceConfig | SerialLineConfig | PjlinkConfig, Field(discriminator="driver")]

__all__ = ["DeviceError", "Driver", "DriverConfig", "Observation", "PjlinkConfig", "PjlinkDriver", "SerialLineConfig",
           "SerialLineDriver",
           "SimulatedDevice", "SimulatedDeviceConfig", "build_driver"]  # fmt: skip


def build_driver(config: SimulatedDeviceConfig | SerialLineConfig | PjlinkConfig) -> Driver:
    """The driver instance for a device's driver config."""
    if isinstance(config, SerialLineConfig):
        return SerialLineDriver(config)
    if isinstance(config, PjlinkConfig):
        return PjlinkDriver(config)
    return SimulatedDevice(config)
