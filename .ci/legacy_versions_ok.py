#!/usr/bin/env python3
"""Checks a dump's versions.txt after the legacy path: the three keystone repositories at 79
in migrate_version (whatever the column separator) and both alembic heads recorded."""
import os
import re
import sys

# The heads of the tree this checkout embeds (not written here, so a new revision needs no edit).
TREE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "alembic_versions")
HEADS = {open(os.path.join(TREE, name)).read().strip() for name in ("EXPAND_HEAD", "CONTRACT_HEAD")}

text = open(sys.argv[1]).read()
rows = {}
for line in text.splitlines():
    if line.startswith("keystone_"):
        fields = re.split(r"[|\t]", line)
        rows[fields[0]] = fields[-1]
repos_ok = all(rows.get(repo) == "79"
               for repo in ("keystone_expand", "keystone_data_migrate", "keystone_contract"))
heads_ok = HEADS <= set(text.split())
print("legacy versions %s: %s" % ("ok" if repos_ok and heads_ok else "WRONG", rows))
sys.exit(0 if repos_ok and heads_ok else 1)
