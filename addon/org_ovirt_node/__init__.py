"""org_ovirt_node: the Anaconda addon of onn, the oVirt Node Next installer."""
