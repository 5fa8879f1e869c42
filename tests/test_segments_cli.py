"""`footfall segments list|show|members|evaluate` against the same database the server uses."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from footfall.cli import app
from tests.segment_helpers import SegmentApi
from tests.segment_oracle import Person


def test_operator_commands(server, account, database_url):
    api = SegmentApi(server.url, account, database_url)
    try:
        api.load([Person(f"c{i}@x.co", None, {"Plan": "pro" if i < 3 else "free"}) for i in range(5)])
        sid = api.segment_id({"condition_groups": [{"conditions": [{
            "type": "profile-property", "property": "properties['Plan']",
            "filter": {"type": "string", "operator": "equals", "value": "pro"}}]}]}, "Pros")
        api.wait_processed([sid])
    finally:
        api.close()
    runner = CliRunner()
    common = ["--account", account.public_key, "--database", database_url]

    listed = runner.invoke(app, ["segments", "list", *common])
    assert listed.exit_code == 0, listed.output
    assert sid in listed.output and "Pros" in listed.output and " 3 " in listed.output

    shown = runner.invoke(app, ["segments", "show", sid, *common])
    assert shown.exit_code == 0
    detail = json.loads(shown.stdout)
    assert detail["members"] == 3 and detail["definition"]["condition_groups"][0]["conditions"][0]["type"] == "profile-property"

    members = runner.invoke(app, ["segments", "members", sid, *common])
    assert members.exit_code == 0 and all(f"c{i}@x.co" in members.output for i in range(3))
    assert "c4@x.co" not in members.output

    evaluated = runner.invoke(app, ["segments", "evaluate", sid, *common])
    assert evaluated.exit_code == 0, evaluated.output
    assert "3 members (0 joined, 0 left) in" in evaluated.stdout

    missing = runner.invoke(app, ["segments", "show", "nope00", *common])
    assert missing.exit_code == 1
