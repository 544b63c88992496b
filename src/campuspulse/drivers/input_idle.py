"""How long the desktop session of this machine has had no keyboard, mouse or touch input.

Linux/X11: XScreenSaverQueryInfo of libXss on the display in `DISPLAY` (the agent's service needs the
session's DISPLAY and XAUTHORITY). Windows: GetLastInputInfo of user32 (the agent must run in the user's
session, e.g. as a logon task, not as a service in session 0); not exercised by the test suite, which runs
on Linux.
"""

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Callable

from campuspulse.drivers.base import DeviceError


class _XScreenSaverInfo(ctypes.Structure):
    _fields_ = [
        ("window", ctypes.c_ulong),
        ("state", ctypes.c_int),
        ("kind", ctypes.c_int),
        ("til_or_since", ctypes.c_ulong),
        ("idle", ctypes.c_ulong),
        ("eventMask", ctypes.c_ulong),
    ]


class InputIdle:
    """Seconds since the last user input, read per call."""

    def __init__(self) -> None:
        if sys.platform == "win32":
            self._read = self._windows()
        else:
            self._read = self._x11()

    def seconds(self) -> float:
        """Seconds since the last keyboard, mouse or touch input."""
        return self._read()

    @staticmethod
    def _x11() -> Callable[[], float]:
        display_name = os.environ.get("DISPLAY")
        if not display_name:
            raise DeviceError(
                "input idle time needs the desktop's X display: set DISPLAY (and XAUTHORITY) for the "
                "agent, or leave out idle_after_s"
            )
        paths = [ctypes.util.find_library(n) for n in ("X11", "Xss")]
        if not all(paths):
            raise DeviceError("input idle time needs libX11 and libXss (Debian: apt install libxss1)")
        x11, xss = (ctypes.cdll.LoadLibrary(p) for p in paths)  # type: ignore[arg-type]
        x11.XOpenDisplay.restype = ctypes.c_void_p
        x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        x11.XDefaultRootWindow.restype = ctypes.c_ulong
        x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        xss.XScreenSaverAllocInfo.restype = ctypes.POINTER(_XScreenSaverInfo)
        xss.XScreenSaverQueryInfo.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(_XScreenSaverInfo)]
        display = x11.XOpenDisplay(display_name.encode())
        if not display:
            raise DeviceError(f"cannot open the X display {display_name!r}: check DISPLAY and XAUTHORITY")
        root, info = x11.XDefaultRootWindow(display), xss.XScreenSaverAllocInfo()

        def read() -> float:
            if not xss.XScreenSaverQueryInfo(display, root, info):
                raise DeviceError(f"the X display {display_name!r} has no screen-saver extension to ask")
            return info.contents.idle / 1000

        return read

    @staticmethod
    def _windows() -> Callable[[], float]:
        class LastInput(ctypes.Structure):
            _fields_ = [("cbSize", ctypes.c_uint), ("dwTime", ctypes.c_uint)]

        user32, kernel32 = ctypes.windll.user32, ctypes.windll.kernel32  # type: ignore[attr-defined]

        def read() -> float:
            last = LastInput(ctypes.sizeof(LastInput), 0)
            if not user32.GetLastInputInfo(ctypes.byref(last)):
                raise DeviceError("GetLastInputInfo failed: run the agent in the user's session")
            return ((kernel32.GetTickCount() - last.dwTime) & 0xFFFFFFFF) / 1000

        return read
