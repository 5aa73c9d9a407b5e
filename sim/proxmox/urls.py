"""Routes: (HTTP method, schema path template) -> handler. Paths are pve-apidoc.json templates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import responses as R
from . import responses_access as A
from . import responses_cluster as C
from . import responses_vm as V

Q = "/nodes/{node}/qemu/{vmid}"
FW = Q + "/firewall"

ROUTES: dict[tuple[str, str], Callable[[R.Ctx], Any]] = {
    ("GET", "/version"): R.version,
    ("POST", "/access/users"): A.user_create,
    ("GET", "/access/users/{userid}/token"): A.token_list,
    ("POST", "/access/users/{userid}/token/{tokenid}"): A.token_create,
    ("GET", "/access/acl"): A.acl_get,
    ("PUT", "/access/acl"): A.acl_put,
    ("GET", "/cluster/nextid"): R.nextid,
    ("GET", "/cluster/resources"): R.cluster_resources,
    ("GET", "/nodes"): R.nodes,
    ("GET", "/nodes/{node}/status"): R.node_status,
    ("GET", "/storage"): R.storage_index,
    ("GET", "/storage/{storage}"): R.storage_get,
    ("GET", "/nodes/{node}/storage"): R.node_storage,
    ("GET", "/nodes/{node}/storage/{storage}/status"): R.storage_status,
    ("GET", "/nodes/{node}/storage/{storage}/content"): R.storage_content,
    ("GET", "/nodes/{node}/storage/{storage}/content/{volume}"): R.volume_info,
    ("GET", "/pools"): R.pools_get,
    ("POST", "/pools"): R.pools_create,
    ("PUT", "/pools"): R.pools_update,
    ("DELETE", "/pools"): R.pools_delete,
    ("GET", "/pools/{poolid}"): R.pool_get_legacy,
    ("PUT", "/pools/{poolid}"): R.pools_update,
    ("DELETE", "/pools/{poolid}"): R.pools_delete,
    ("GET", "/nodes/{node}/tasks"): R.tasks_list,
    ("GET", "/nodes/{node}/tasks/{upid}/status"): R.task_status,
    ("GET", "/nodes/{node}/tasks/{upid}/log"): R.task_log,
    ("DELETE", "/nodes/{node}/tasks/{upid}"): R.task_stop,
    ("GET", "/nodes/{node}/qemu"): V.vm_list,
    ("POST", "/nodes/{node}/qemu"): V.vm_create,
    ("GET", Q): V.vm_index,
    ("DELETE", Q): V.destroy,
    ("GET", Q + "/config"): V.config_get,
    ("PUT", Q + "/config"): V.config_put,
    ("POST", Q + "/config"): V.config_post,
    ("GET", Q + "/pending"): V.pending_get,
    ("GET", Q + "/cloudinit"): V.cloudinit_get,
    ("PUT", Q + "/cloudinit"): V.cloudinit_put,
    ("PUT", Q + "/resize"): V.resize,
    ("POST", Q + "/clone"): V.clone,
    ("POST", Q + "/template"): V.template,
    ("GET", Q + "/migrate"): V.migrate_get,
    ("POST", Q + "/migrate"): V.migrate,
    ("GET", Q + "/status"): V.status_index,
    ("GET", Q + "/status/current"): V.status_current,
    ("POST", Q + "/status/start"): V._power("start"),
    ("POST", Q + "/status/stop"): V._power("stop"),
    ("POST", Q + "/status/shutdown"): V._power("shutdown"),
    ("POST", Q + "/status/reboot"): V._power("reboot"),
    ("POST", Q + "/status/suspend"): V._power("suspend"),
    ("POST", Q + "/status/resume"): V._power("resume"),
    ("POST", Q + "/agent/ping"): V.agent("ping"),
    ("GET", Q + "/agent/network-get-interfaces"): V.agent("network-get-interfaces"),
    ("GET", Q + "/agent/get-host-name"): V.agent("get-host-name"),
    ("GET", Q + "/agent/info"): V.agent("info"),
    ("POST", "/nodes/{node}/vzdump"): V.vzdump,
    ("GET", FW + "/options"): V.fw_options_get,
    ("PUT", FW + "/options"): V.fw_options_put,
    ("GET", FW + "/rules"): V.fw_rules_get,
    ("POST", FW + "/rules"): V.fw_rules_post,
    ("GET", FW + "/rules/{pos}"): V.fw_rule_get,
    ("PUT", FW + "/rules/{pos}"): V.fw_rule_put,
    ("DELETE", FW + "/rules/{pos}"): V.fw_rule_delete,
    ("GET", FW + "/ipset"): V.fw_ipsets_get,
    ("POST", FW + "/ipset"): V.fw_ipset_create,
    ("GET", FW + "/ipset/{name}"): V.fw_ipset_get,
    ("POST", FW + "/ipset/{name}"): V.fw_ipset_add,
    ("DELETE", FW + "/ipset/{name}"): V.fw_ipset_delete,
    ("DELETE", FW + "/ipset/{name}/{cidr}"): V.fw_cidr_delete,
    # cluster and node reads (monitoring and operators' tools call these first)
    ("GET", "/cluster/status"): C.cluster_status,
    ("GET", "/cluster/options"): C.cluster_options,
    ("GET", "/cluster/backup"): C.backup_jobs,
    ("GET", "/cluster/backup-info/not-backed-up"): C.not_backed_up,
    ("GET", "/cluster/ha/status/current"): C.ha_status,
    ("GET", "/cluster/config/qdevice"): C.qdevice,
    ("GET", "/cluster/sdn"): C.sdn_index,
    ("GET", "/cluster/sdn/vnets"): C.empty_list,
    ("GET", "/cluster/sdn/zones"): C.empty_list,
    ("GET", "/cluster/sdn/controllers"): C.empty_list,
    ("GET", "/cluster/sdn/ipams"): C.empty_list,
    ("GET", "/cluster/sdn/dns"): C.empty_list,
    ("GET", "/nodes/{node}/network"): C.node_network,
    ("GET", "/nodes/{node}/subscription"): C.subscription,
    ("GET", "/nodes/{node}/replication"): C.replication,
    ("GET", "/nodes/{node}/rrddata"): C.node_rrddata,
    ("GET", Q + "/rrddata"): C.vm_rrddata,
    ("GET", "/nodes/{node}/lxc"): C.empty_list,
    ("GET", "/access/permissions"): C.permissions,
}

# Routes whose worker runs on the node named in the path (offline node -> proxy error).
PAGED = {("GET", "/nodes/{node}/tasks/{upid}/log"), ("GET", "/nodes/{node}/tasks")}
