"""Every driver family, by the `driver` tag of its config. A new family is its module and one line here."""

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import BaseModel, Field

from campuspulse.drivers.base import Driver
from campuspulse.drivers.camera import CameraConfig, CameraDriver
from campuspulse.drivers.host_activity import HostActivityConfig, HostActivityDriver
from campuspulse.drivers.modbus_meter import ModbusConfig, ModbusDriver
from campuspulse.drivers.pjlink import PjlinkConfig, PjlinkDriver
from campuspulse.drivers.serial_line import SerialLineConfig, SerialLineDriver
from campuspulse.drivers.shelly_http import ShellyHttpConfig, ShellyHttpDriver
from campuspulse.drivers.simulated import SimulatedDevice, SimulatedDeviceConfig
from campuspulse.drivers.smart_plug import SmartPlugConfig, SmartPlugDriver

FAMILIES: dict[type[BaseModel], Callable[[Any], Driver]] = {
    SimulatedDeviceConfig: SimulatedDevice,
    SerialLineConfig: SerialLineDriver,
    PjlinkConfig: PjlinkDriver,
    ModbusConfig: ModbusDriver,
    SmartPlugConfig: SmartPlugDriver,
    ShellyHttpConfig: ShellyHttpDriver,
    CameraConfig: CameraDriver,
    HostActivityConfig: HostActivityDriver,
}
DRIVER_TAGS = frozenset(config.model_fields["driver"].default for config in FAMILIES)

if TYPE_CHECKING:
    DriverConfig = BaseModel
else:
    DriverConfig = Annotated[Union[tuple(FAMILIES)], Field(discriminator="driver")]  # noqa: UP007


def build_driver(config: BaseModel) -> Driver:
    """The driver of a device's config."""
    return FAMILIES[type(config)](config)
