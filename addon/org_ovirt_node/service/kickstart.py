"""The kickstart glue: NodeKickstart as pyanaconda's AddonData, and the specification."""

from pyanaconda.core.kickstart import KickstartSpecification
from pyanaconda.core.kickstart.addon import AddonData

from org_ovirt_node.ksdata import ADDON_NAME, NodeKickstart


class OvirtNodeData(NodeKickstart, AddonData):
    """`%addon org_ovirt_node`: the methods are NodeKickstart's."""

    def __init__(self) -> None:
        NodeKickstart.__init__(self)


class OvirtNodeKickstartSpecification(KickstartSpecification):
    addons = {ADDON_NAME: OvirtNodeData}
