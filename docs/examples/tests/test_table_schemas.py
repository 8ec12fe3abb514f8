"""The table schema example of the personal-data page."""


def test_table_schemas():
    # --8<-- [start:schemas]
    from airflow_provider_langdock.columns import bigquery_schema, postgres_ddl, snowflake_ddl, table_schema

    schema = table_schema("users", group_by="model", byok=False, personal_data="pseudonymize")
    postgres = postgres_ddl(schema, "analytics.langdock_users")  # CREATE TABLE ... plus COMMENT ON COLUMN
    snowflake = snowflake_ddl(schema, "ANALYTICS.LANGDOCK_USERS")  # CREATE TABLE ... with column comments
    bigquery = bigquery_schema(schema)  # [{"name": "period_start", "type": "DATE", "mode": "NULLABLE", ...}]
    # --8<-- [end:schemas]
    assert postgres.startswith("CREATE TABLE analytics.langdock_users (")
    assert "COMMENT ON COLUMN" in postgres
    assert snowflake.startswith("CREATE TABLE ANALYTICS.LANGDOCK_USERS (")
    assert bigquery[0] == {**bigquery[0], "name": "period_start", "type": "DATE"}
    email = next(field for field in bigquery if field["name"] == "email")
    assert email["type"] == "STRING"  # pseudonymized: a string of hex digits
