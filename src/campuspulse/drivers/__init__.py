"""Device drivers: each turns one device family into observations. No MQTT, no storage."""

from typing import Annotated

from pydantic import Field

from campuspulse.drivers.base import DeviceError, Driver, Observation
from campuspulse.drivers.camera import CameraConfig, CameraDriver
from campuspulse.drivers.host_activity import HostActivityConfig, HostActivityDriver
from campuspulse.drivers.modbus_meter import ModbusConfig, ModbusDriver
from campuspulse.drivers.pjlink import PjlinkConfig, PjlinkDriver
from campuspulse.drivers.serial_line import SerialLineConfig, SerialLineDriver
from campuspulse.drivers.simulated import SimulatedDevice, SimulatedDeviceConfig
from campuspulse.drivers.smart_plug import SmartPlugConfig, SmartPlugDriver

AnyDriverConfig = (
    SimulatedDeviceConfig
    | SerialLineConfig
    | PjlinkConfig
    | ModbusConfig
    | SmartPlugConfig
    | CameraConfig
    | HostActivityConfig
)
DriverConfig = Annotated[AnyDriverConfig, Field(discriminator="driver")]

__all__ = [
    "CameraConfig",
    "CameraDriver",
    "DeviceError",
    "Driver",
    "DriverConfig",
    "HostActivityConfig",
    "HostActivityDriver",
    "ModbusConfig",
    "ModbusDriver",
    "Observation",
    "PjlinkConfig",
    "PjlinkDriver",
    "SerialLineConfig",
    "SerialLineDriver",
    "SimulatedDevice",
    "SimulatedDeviceConfig",
    "SmartPlugConfig",
    "SmartPlugDriver",
    "build_driver",
]


def build_driver(config: AnyDriverConfig) -> Driver:
    """The driver instance for a device's driver config."""
    if isinstance(config, SerialLineConfig):
        return SerialLineDriver(config)
    if isinstance(config, PjlinkConfig):
        return PjlinkDriver(config)
    if isinstance(config, ModbusConfig):
        return ModbusDriver(config)
    if isinstance(config, SmartPlugConfig):
        return SmartPlugDriver(config)
    if isinstance(config, CameraConfig):
        return CameraDriver(config)
    if isinstance(config, HostActivityConfig):
        return HostActivityDriver(config)
    return SimulatedDevice(config)
