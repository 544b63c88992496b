"""Each role installs only its own libraries and an agent's install stays small (figures: tests/bench/install_sizes)."""

import subprocess
import sys
from pathlib import Path

from tests.bench.install_sizes import closure, install_sizes

ROOT = Path(__file__).parents[2]

WEB_SQL_EXCEL = {"fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "psycopg", "openpyxl", "jinja2", "amqtt"}
DEVICES = {"pymodbus", "pyserial", "pyserial-asyncio-fast", "psutil", "aiomqtt"}


def test_each_role_installs_only_its_own_libraries():
    assert closure("campuspulse", frozenset({"agent"})) & WEB_SQL_EXCEL == set()
    assert closure("campuspulse", frozenset({"collector"})) & (DEVICES | {"fastapi", "openpyxl", "amqtt"}) == set()
    assert closure("campuspulse", frozenset({"server"})) & (DEVICES | {"amqtt", "influxdb-client"}) == set()
    assert {"fastapi", "pymodbus", "amqtt", "influxdb-client"} <= closure("campuspulse", frozenset({"all"}))


def test_an_agent_install_is_under_a_third_of_everything():
    sizes = install_sizes()
    (agent_n, agent), (all_n, everything) = sizes["agent"], sizes["all"]
    assert agent < everything / 3, f"agent {agent / 1e6:.1f} MB of {everything / 1e6:.1f} MB"
    assert agent_n < all_n


def test_a_command_whose_libraries_are_not_installed_names_the_extra(tmp_path):
    # An install without the server's extra, as far as this process can tell: importing uvicorn fails.
    code = (
        "import sys; sys.modules['uvicorn'] = None; "
        "sys.argv = ['campuspulse', 'server', '-c', 'config/examples/server.yaml']; "
        "from campuspulse.cli import main; main()"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 2
    assert "needs uvicorn" in done.stderr and "pip install 'campuspulse[server]'" in " ".join(done.stderr.split())
