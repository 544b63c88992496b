"""Device drivers: each turns one device family into observations. No MQTT, no storage."""

from campuspulse.drivers.base import Driver, Observation
from campuspulse.drivers.simulated import SimulatedDevice, SimulatedDeviceConfig

DriverConfig = SimulatedDeviceConfig

__all__ = ["Driver", "DriverConfig", "Observation", "SimulatedDevice", "SimulatedDeviceConfig", "build_driver"]


def build_driver(config: DriverConfig) -> Driver:
    """The driver instance for a device's driver config."""
    if isinstance(config, SimulatedDeviceConfig):
        return SimulatedDevice(config)
    raise ValueError(f"no driver for {config!r}")
