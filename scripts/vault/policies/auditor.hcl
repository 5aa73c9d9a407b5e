# A read-only view of the tenant key layout for audits and tests: which paths and versions exist, never a key.
path "secret/metadata/dokploy-cloud/<env>/*" {
  capabilities = ["list", "read"]
}
