"""``pulumi preview`` of ``local.control-plane`` through the real engine: the program declares the VM cloned from
the region's template, its user-data snippet, firewall and DNS record, and creates nothing."""

from __future__ import annotations

from pathlib import Path

from pulumi import automation as auto

from provisioning.toolchain import engine_env, pulumi_command

REPO = Path(__file__).resolve().parents[2]


def test_the_control_plane_stack_previews(tmp_path: Path) -> None:
    (tmp_path / "backend").mkdir()
    env = engine_env(
        {
            "PULUMI_BACKEND_URL": f"file://{tmp_path / 'backend'}",
            "PULUMI_CONFIG_PASSPHRASE": "control-plane-preview",
            "PROXMOX_VE_API_TOKEN": "dokploy-cloud@pve!admin=00000000-0000-0000-0000-000000000000",
            "PDNS_API_KEY": "preview-only",
        }
    )
    workspace = auto.LocalWorkspace(work_dir=str(REPO), env_vars=env, pulumi_command=pulumi_command())
    stack = auto.Stack.create("local.control-plane", workspace)
    try:
        preview = stack.preview(color="never")
        outputs = stack.outputs()
    finally:
        workspace.remove_stack("local.control-plane")  # also removes its Pulumi.local.control-plane.yaml
    types = [line.split()[1] for line in preview.stdout.splitlines() if line.strip().startswith("+ ")]
    assert preview.change_summary == {"create": 7}, preview.stdout
    for token in ("proxmoxve:index:VmLegacy", "proxmoxve:index:FileLegacy", "proxmoxve:firewall:RulesLegacy"):
        assert token in types, preview.stdout
    assert '"https://app.cloud.test"' in preview.stdout and "9900" in preview.stdout
    assert outputs == {}, "a preview must not record outputs"
