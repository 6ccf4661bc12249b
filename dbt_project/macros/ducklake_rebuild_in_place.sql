{#- A DuckLake table keeps its data files in a folder named after the table it was created
    as. dbt-duckdb rebuilds a table by creating `<model>__dbt_tmp` and renaming it, which
    would leave every rebuilt silver and gold table's files under `<model>__dbt_tmp/`. It
    rebuilds in place instead (drop, then create under the final name, in one transaction)
    for tables with foreign keys; a DuckLake table takes that path too, so its files stay in
    silver/<model>/ or gold/<model>/. One transaction: a reader sees the old table or the new
    one, and readers pinned to an older snapshot keep the old table's files until expiry.
    Overrides dbt-duckdb's macro of the same name (root project macros take precedence). -#}
{%- macro has_foreign_key_constraints(relation=none) -%}
    {%- if adapter.is_ducklake(this) -%}
        {{- return(true) -}}
    {%- endif -%}
    {{- return(dbt.has_foreign_key_constraints(relation)) -}}
{%- endmacro -%}
