"""pyanaconda/modules/common/constants/namespaces.py."""

ANACONDA_NAMESPACE = ("org", "fedoraproject", "Anaconda")
MODULES_NAMESPACE = (*ANACONDA_NAMESPACE, "Modules")
ADDONS_NAMESPACE = (*ANACONDA_NAMESPACE, "Addons")
STORAGE_NAMESPACE = (*MODULES_NAMESPACE, "Storage")
PAYLOADS_NAMESPACE = (*MODULES_NAMESPACE, "Payloads")
