"""Version-controlled data of the exception platform: the default triage rules, the
default playbooks and example tenants, all plain JSON.

The example tenants' API keys are demo values for local runs and tests only:
`acme-demo-key`, `globex-demo-key` and `initech-demo-key` (stored hashed).
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
"""The folder holding the JSON files below."""

RULES_FILE = "triage_rules.json"
PLAYBOOKS_FILE = "playbooks.json"
TENANTS_FILE = "tenants.json"
