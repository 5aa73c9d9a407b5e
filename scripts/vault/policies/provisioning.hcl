# The provisioning service's Vault policy (its AppRole "provisioning-<env>"), for one environment; <env> is
# replaced with the environment's name when the policy is written (scripts/vault/server.py, docs/security).
# tests/security/test_vault_policy.py proves every capability here is needed and nothing else is allowed.

# Tenant key pairs: the first version of a tenant's path is a create, every rotation an update, and
# provisioning and break-glass reads read one version.
path "secret/data/dokploy-cloud/<env>/tenants/+/ssh" {
  capabilities = ["create", "update", "read"]
}

# Decommission deletes the tenant's path with every version.
path "secret/metadata/dokploy-cloud/<env>/tenants/+/ssh" {
  capabilities = ["delete"]
}

# The platform credentials (Proxmox token, Dokploy key, PowerDNS key, Stripe keys): read only.
path "secret/data/dokploy-cloud/<env>/platform" {
  capabilities = ["read"]
}
