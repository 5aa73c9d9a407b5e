package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/bpg/terraform-provider-proxmox/fwprovider"
	sdkprovider "github.com/bpg/terraform-provider-proxmox/proxmoxtf/provider"
	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Pulumi package name used by the pulumi_proxmoxve Python SDK.
const pkgName = "proxmoxve"

// upstreamVersion is the bpg/terraform-provider-proxmox version pinned in go.mod
// (the one pulumi-proxmoxve 8.3.0 bridges); the framework provider reports it.
const upstreamVersion = "0.111.1"

// providerInfo bridges bpg's provider, which is two providers in one: an SDKv2 provider
// (mostly the proxmox_virtual_environment_* "legacy" types, e.g. the VM) and a
// plugin-framework provider (newer types). The bridge muxes both behind one Pulumi package.
func providerInfo(version string, bridgeMetadata []byte) tfbridge.ProviderInfo {
	ctx := context.Background()
	prov := tfbridge.ProviderInfo{
		P: pftfbridge.MuxShimWithPF(ctx,
			shimv2.NewProvider(sdkprovider.ProxmoxVirtualEnvironment()),
			fwprovider.New(upstreamVersion)()),
		Name:         "proxmox", // the Terraform provider name: types are proxmox_*
		Version:      version,
		Description:  "Proxmox Virtual Environment (bridged from bpg/terraform-provider-proxmox).",
		License:      "Apache-2.0",
		GitHubOrg:    "bpg",
		MetadataInfo: tfbridge.NewProviderMetadata(bridgeMetadata),
		Config:       map[string]*tfbridge.SchemaInfo{},
		Resources:    map[string]*tfbridge.ResourceInfo{},
		DataSources:  map[string]*tfbridge.DataSourceInfo{},
	}
	applyOverrides(&prov)
	prov.MustComputeTokens(tfbridge.Strategy{
		Resource: func(tfToken string, r *tfbridge.ResourceInfo) error {
			if r.Tok != "" {
				return nil
			}
			mod, name, err := splitTFName(tfToken)
			if err != nil {
				return err
			}
			r.Tok = tfbridge.MakeResource(pkgName, mod, name)
			return nil
		},
		DataSource: func(tfToken string, d *tfbridge.DataSourceInfo) error {
			if d.Tok != "" {
				return nil
			}
			mod, name, err := splitTFName(tfToken)
			if err != nil {
				return err
			}
			d.Tok = tfbridge.MakeDataSource(pkgName, mod, "get"+name)
			return nil
		},
	})
	// Like pulumi-proxmoxve: a resource's "name" input defaults to <urn name>-<random suffix>.
	prov.SetAutonaming(255, "-")
	return prov
}

// splitTFName derives the Pulumi module and member name the pulumi-proxmoxve SDK uses
// for a bpg type name:
//
//	proxmox_virtual_environment_vm        -> index, VmLegacy  (SDKv2-era names get "Legacy")
//	proxmox_virtual_environment_firewall_rules -> firewall, RulesLegacy
//	proxmox_sdn_zone_simple               -> sdn/zone, Simple
//
// All words but the last form the module path ("index" when there is only one word);
// the last word, capitalised, is the member name.
func splitTFName(tfName string) (module, name string, err error) {
	legacy := false
	rest, ok := strings.CutPrefix(tfName, "proxmox_virtual_environment_")
	if ok {
		legacy = true
	} else if rest, ok = strings.CutPrefix(tfName, "proxmox_"); !ok {
		return "", "", fmt.Errorf("%s: not a proxmox_* type", tfName)
	}
	words := strings.Split(rest, "_")
	last := words[len(words)-1]
	if last == "" || (last[0] >= '0' && last[0] <= '9') {
		return "", "", fmt.Errorf("%s: cannot derive a Pulumi name", tfName)
	}
	module = "index"
	if len(words) > 1 {
		module = strings.Join(words[:len(words)-1], "/")
	}
	name = strings.ToUpper(last[:1]) + last[1:]
	if legacy {
		name += "Legacy"
	}
	return module, name, nil
}

// resourceIDTypes are the bpg types whose own "id" attribute the SDK exposes as the
// string property "resourceId" (a VM's integer VMID, a storage or SDN object's name...).
// Left alone, the bridge's default fixup would call it "<type>Id" (or refuse an integer id).
// Each name also covers its proxmox_virtual_environment_* twin when legacy is set.
var resourceIDTypes = []struct {
	tfName string
	legacy string // the SDKv2-era twin, if any
}{
	{"proxmox_vm", "proxmox_virtual_environment_vm2"},
	{"proxmox_cloned_vm", "proxmox_virtual_environment_cloned_vm"},
	{"proxmox_replication", "proxmox_virtual_environment_replication"},
	{"proxmox_backup_job", ""},
	{"proxmox_storage_cifs", "proxmox_virtual_environment_storage_cifs"},
	{"proxmox_storage_directory", "proxmox_virtual_environment_storage_directory"},
	{"proxmox_storage_lvm", "proxmox_virtual_environment_storage_lvm"},
	{"proxmox_storage_lvmthin", "proxmox_virtual_environment_storage_lvmthin"},
	{"proxmox_storage_nfs", "proxmox_virtual_environment_storage_nfs"},
	{"proxmox_storage_pbs", "proxmox_virtual_environment_storage_pbs"},
	{"proxmox_storage_zfspool", "proxmox_virtual_environment_storage_zfspool"},
	{"proxmox_sdn_vnet", "proxmox_virtual_environment_sdn_vnet"},
	{"proxmox_sdn_zone_evpn", "proxmox_virtual_environment_sdn_zone_evpn"},
	{"proxmox_sdn_zone_qinq", "proxmox_virtual_environment_sdn_zone_qinq"},
	{"proxmox_sdn_zone_simple", "proxmox_virtual_environment_sdn_zone_simple"},
	{"proxmox_sdn_zone_vlan", "proxmox_virtual_environment_sdn_zone_vlan"},
	{"proxmox_sdn_zone_vxlan", "proxmox_virtual_environment_sdn_zone_vxlan"},
	{"proxmox_sdn_fabric_openfabric", "proxmox_virtual_environment_sdn_fabric_openfabric"},
	{"proxmox_sdn_fabric_ospf", "proxmox_virtual_environment_sdn_fabric_ospf"},
}

// applyOverrides holds the explicit mapping entries where the automatic mapping above
// and the bridge's default fixups would not produce what the SDK expects.
func applyOverrides(prov *tfbridge.ProviderInfo) {
	for _, t := range resourceIDTypes {
		for _, tfName := range []string{t.tfName, t.legacy} {
			if tfName == "" {
				continue
			}
			prov.Resources[tfName] = &tfbridge.ResourceInfo{
				Fields: map[string]*tfbridge.SchemaInfo{
					"id": {Name: "resourceId", Type: "string"},
				},
				ComputeID: idFromProperty("resourceId"),
			}
		}
	}
}

// idFromProperty uses a scalar output property as the Pulumi resource ID.
func idFromProperty(key resource.PropertyKey) tfbridge.ComputeID {
	return func(_ context.Context, state resource.PropertyMap) (resource.ID, error) {
		v, ok := state[key]
		if !ok || v.IsNull() {
			return "", fmt.Errorf("state has no %q property to use as the resource ID", key)
		}
		if v.IsSecret() {
			v = v.SecretValue().Element
		}
		switch {
		case v.IsString():
			return resource.ID(v.StringValue()), nil
		case v.IsNumber():
			return resource.ID(strconv.FormatFloat(v.NumberValue(), 'f', -1, 64)), nil
		default:
			return "", fmt.Errorf("property %q is %v, not usable as a resource ID", key, v.TypeString())
		}
	}
}
