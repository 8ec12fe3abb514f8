#!/usr/bin/env bash
# The connection commands of docs/connection.md. tests/test_docs.py runs this file with LANGDOCK_API_KEY
# and LANGDOCK_BASE_URL pointing at the simulator, in a private AIRFLOW_HOME.
set -euo pipefail

# --8<-- [start:env]
export AIRFLOW_CONN_LANGDOCK_DEFAULT='{
  "conn_type": "langdock",
  "host": "https://api.langdock.com",
  "password": "<API key>",
  "extra": {"timeout": 120, "max_attempts": 5}
}'
# --8<-- [end:env]
python - <<'PY'
import json

from airflow.models.connection import Connection

connection = Connection.get_connection_from_secrets("langdock_default")
print("env:", json.dumps([connection.conn_type, connection.host, connection.password, connection.extra_dejson]))
PY
unset AIRFLOW_CONN_LANGDOCK_DEFAULT

# --8<-- [start:add]
airflow connections add langdock_default --conn-type langdock \
  --conn-host "$LANGDOCK_BASE_URL" --conn-password "$LANGDOCK_API_KEY"
# --8<-- [end:add]

# --8<-- [start:test]
export AIRFLOW__CORE__TEST_CONNECTION=Enabled   # or [core] test_connection = Enabled in airflow.cfg
airflow connections test langdock_default
# --8<-- [end:test]
