"""Entry point of the D-Bus service (`start-module org_ovirt_node.service`)."""

from pyanaconda.modules.common import init

init()  # before any other service import: logging and locale

from org_ovirt_node.service.ovirt_node import OvirtNode  # noqa: E402

OvirtNode().run()
