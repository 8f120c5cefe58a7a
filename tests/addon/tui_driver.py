"""Runs the text spoke as the installer's text mode would show it (simpleline's App on this
terminal), for tests/addon/test_tui.py to drive in tmux. When the spoke is left, prints
what the hub will show for it. Needs the addon's service on DBUS_STARTER_ADDRESS and the
pyanaconda stand-ins on PYTHONPATH."""

from org_ovirt_node.tui.spokes.ovirt_node import OvirtNodeSpoke
from simpleline import App
from simpleline.render.screen_handler import ScreenHandler

App.initialize()
spoke = OvirtNodeSpoke(None, None, None)
spoke.initialize()
ScreenHandler.schedule_screen(spoke)
App.run()
print(f"LEFT completed={spoke.completed} status={spoke.status}", flush=True)
input("press enter to quit:")
