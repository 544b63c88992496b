"""Device drivers: each turns one device family into observations. No MQTT, no storage.

Each family is a module with a config model and a driver class; `registry` lists them.
"""

from campuspulse.drivers.base import DeviceError, Driver, NoReportYet, Observation

__all__ = ["DeviceError", "Driver", "NoReportYet", "Observation"]
