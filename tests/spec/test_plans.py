"""Plans configuration: the sample parses; bad plans name source, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.spec import SpecErrors, load_plans, parse_plans

GOOD = {"starter": {"cores": 2, "memory_mb": 4096, "disk_gb": 40, "max_servers": 1}}


def test_sample_plans_file(plans):
    assert set(plans) == {"starter", "business", "enterprise", "container"}
    assert plans["business"].max_servers == 3 and plans["business"].backups is not None
    assert plans["business"].backups.prune_backups == {"keep-daily": "7", "keep-weekly": "4"}
    assert plans["starter"].backups is None


def test_parse_plans_from_config_object_defaults():
    plan = parse_plans(GOOD)["starter"]
    assert (plan.cores, plan.memory_mb, plan.disk_gb, plan.max_servers, plan.backups) == (2, 4096, 40, 1, None)
    assert parse_plans({"starter": plan.to_config()})["starter"] == plan
    nightly = {"schedule": "02:00", "storage": "nfs-backup", "keep": {"daily": 7}}
    backed_up = parse_plans({"starter": {**GOOD["starter"], "backups": nightly}})["starter"]
    assert backed_up.backups is not None and (backed_up.backups.mode, backed_up.backups.compress) == (
        "snapshot",
        "zstd",
    )
    assert parse_plans({"starter": backed_up.to_config()})["starter"] == backed_up


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"cores": 0}, "starter.cores", ["out of range", "1 to 64"]),
        ({"memory_mb": "4G"}, "starter.memory_mb", ["expected a whole number"]),
        ({"gpu": True}, "starter.gpu", ["unknown field", "max_servers"]),
        ({"backups": "yes"}, "starter.backups", ["false (no backups", "schedule, storage and keep"]),
        ({"backups": True}, "starter.backups", ["false (no backups", "schedule, storage and keep"]),
        (
            {"backups": {"schedule": "02:00", "storage": "nfs", "keep": {"dayly": 7}}},
            "starter.backups.keep.dayly",
            ["last, hourly, daily"],
        ),
        (
            {"backups": {"schedule": "02:00", "storage": "nfs", "keep": {"daily": 0}}},
            "starter.backups.keep.daily",
            ["out of range", "1 to 10000"],
        ),
        (
            {"backups": {"schedule": "02:00; rm", "storage": "nfs", "keep": {"daily": 7}}},
            "starter.backups.schedule",
            ["calendar event"],
        ),
    ],
)
def test_bad_plan_fields_from_config_name_field(change, field, words):
    with pytest.raises(SpecErrors) as exc:
        parse_plans({"starter": {**GOOD["starter"], **change}})
    (err,) = exc.value.errors
    assert err.field == field and err.line is None and err.source == "Pulumi config 'plans'"
    for word in words:
        assert word in str(exc.value)


def test_missing_plan_field_and_bad_name_both_reported():
    fields = dict(GOOD["starter"])
    del fields["disk_gb"]
    with pytest.raises(SpecErrors) as exc:
        parse_plans({"Bad Name": GOOD["starter"], "small": fields})
    assert {e.field for e in exc.value.errors} == {"Bad Name", "small.disk_gb"}


def test_empty_plans_rejected():
    with pytest.raises(SpecErrors, match="must not be empty"):
        parse_plans({})


def test_plans_file_errors_carry_lines(tmp_path: Path):
    path = tmp_path / "plans.yaml"
    path.write_text("plans:\n  starter:\n    cores: 2\n    memory_mb: 100\n    disk_gb: 40\n    max_servers: 1\n")
    with pytest.raises(SpecErrors) as exc:
        load_plans(path)
    (err,) = exc.value.errors
    assert (err.source, err.line, err.field) == (str(path), 4, "plans.starter.memory_mb")
    assert f"{path}:4: field 'plans.starter.memory_mb'" in str(exc.value)


def test_plans_file_needs_plans_key(tmp_path: Path):
    path = tmp_path / "plans.yaml"
    path.write_text("starter:\n  cores: 2\n")
    with pytest.raises(SpecErrors, match="top-level 'plans' key"):
        load_plans(path)


def test_missing_plans_file_is_named(tmp_path: Path):
    with pytest.raises(SpecErrors, match="cannot read file") as exc:
        load_plans(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(exc.value)
