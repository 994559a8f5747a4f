// The keys of the Compose Specification at each level, and which of them this
// loader reads. A spec key outside a `*_READ` list is accepted and reported as
// not applied; a key outside a `*_KEYS` list is an error, as in compose.

export const TOP_KEYS = [
  "version",
  "name",
  "services",
  "networks",
  "volumes",
  "configs",
  "secrets",
  "include",
  "models",
];
export const TOP_READ = ["version", "services", "networks"];

export const SERVICE_KEYS = [
  "annotations",
  "attach",
  "blkio_config",
  "build",
  "cap_add",
  "cap_drop",
  "cgroup",
  "cgroup_parent",
  "command",
  "configs",
  "container_name",
  "cpu_count",
  "cpu_percent",
  "cpu_period",
  "cpu_quota",
  "cpu_rt_period",
  "cpu_rt_runtime",
  "cpu_shares",
  "cpus",
  "cpuset",
  "credential_spec",
  "depends_on",
  "deploy",
  "develop",
  "device_cgroup_rules",
  "devices",
  "dns",
  "dns_opt",
  "dns_search",
  "domainname",
  "driver_opts",
  "entrypoint",
  "env_file",
  "environment",
  "expose",
  "extends",
  "external_links",
  "extra_hosts",
  "gpus",
  "group_add",
  "healthcheck",
  "hostname",
  "image",
  "init",
  "ipc",
  "isolation",
  "label_file",
  "labels",
  "links",
  "logging",
  "mac_address",
  "mem_limit",
  "mem_reservation",
  "mem_swappiness",
  "memswap_limit",
  "models",
  "network_mode",
  "networks",
  "oom_kill_disable",
  "oom_score_adj",
  "pid",
  "pids_limit",
  "platform",
  "ports",
  "post_start",
  "pre_stop",
  "privileged",
  "profiles",
  "provider",
  "pull_policy",
  "read_only",
  "restart",
  "runtime",
  "scale",
  "secrets",
  "security_opt",
  "shm_size",
  "stdin_open",
  "stop_grace_period",
  "stop_signal",
  "storage_opt",
  "sysctls",
  "tmpfs",
  "tty",
  "ulimits",
  "use_api_socket",
  "user",
  "userns_mode",
  "uts",
  "volumes",
  "volumes_from",
  "working_dir",
];
export const SERVICE_READ = [
  "image",
  "command",
  "entrypoint",
  "labels",
  "deploy",
  "ports",
  "networks",
  "expose",
  "environment",
];

export const DEPLOY_KEYS = [
  "endpoint_mode",
  "labels",
  "mode",
  "placement",
  "replicas",
  "resources",
  "restart_policy",
  "rollback_config",
  "update_config",
];
export const DEPLOY_READ = ["endpoint_mode", "labels", "mode", "placement", "replicas"];
export const PLACEMENT_KEYS = ["constraints", "preferences", "max_replicas_per_node"];
export const PLACEMENT_READ = ["constraints"];
export const PORT_KEYS = [
  "name",
  "target",
  "published",
  "host_ip",
  "protocol",
  "app_protocol",
  "mode",
];
export const PORT_READ = ["target", "published", "host_ip", "protocol", "mode"];
export const ATTACH_KEYS = [
  "aliases",
  "ipv4_address",
  "ipv6_address",
  "link_local_ips",
  "mac_address",
  "driver_opts",
  "priority",
  "gw_priority",
  "interface_name",
];
export const ATTACH_READ = ["aliases"];
export const NETWORK_KEYS = [
  "driver",
  "driver_opts",
  "attachable",
  "enable_ipv4",
  "enable_ipv6",
  "ipam",
  "internal",
  "labels",
  "external",
  "name",
];
export const NETWORK_READ = NETWORK_KEYS;
export const IPAM_KEYS = ["driver", "config", "options"];
export const IPAM_READ = ["driver", "config"];
export const IPAM_CONFIG_KEYS = ["subnet", "ip_range", "gateway", "aux_addresses"];

/** Keys of the spec that would change which services exist or what they are:
 * ignoring them would deploy something else than the file says, so they are refused. */
export const UNSUPPORTED: Record<string, string> = {
  include: "not supported by stack deploy (merge the files with -c instead)",
  "services.*.extends": "not supported by stack deploy",
  // Docker applies these; swarmnet's tasks resolve through its own DNS and
  // hosts files it does not edit, so ignoring them would wire the service
  // differently from what the file says.
  "services.*.dns":
    "is not supported by swarmnet: tasks resolve through swarmnet's DNS at 127.0.0.11",
  "services.*.dns_search": "is not supported by swarmnet: tasks resolve through swarmnet's DNS",
  "services.*.dns_opt": "is not supported by swarmnet: tasks resolve through swarmnet's DNS",
  "services.*.extra_hosts": "is not supported by swarmnet (extra /etc/hosts entries)",
};
