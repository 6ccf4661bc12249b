{#- A dead letter's reason without its particulars (a value, a size, a byte offset), so
    that reasons group by kind: `column 'qty': 'abc' is not a int64` becomes
    `column 'qty': not a int64`, `invalid JSON: unexpected end of data...` becomes
    `invalid JSON`. The same rule as ingestion/dlq.py's reason_kind (what
    `lakehouse dlq list` shows). -#}
{%- macro dead_letter_reason_kind(reason) -%}
    case
        when {{ reason }} like 'invalid JSON%' then 'invalid JSON'
        when {{ reason }} like 'invalid CSV row%' then 'invalid CSV row'
        when {{ reason }} like 'invalid UTF-8%' then 'invalid UTF-8'
        when {{ reason }} like 'record of %' then 'record over max_record_bytes'
        when {{ reason }} like 'superseded%' then 'superseded by a later version'
        when {{ reason }} like 'cannot replay%' then 'cannot replay'
        when {{ reason }} like 'column %' and {{ reason }} like '% is not a %'
            then split_part({{ reason }}, ':', 1) || ': not a '
            || reverse(split_part(reverse({{ reason }}), reverse(' is not a '), 1))
        else coalesce({{ reason }}, '')
    end
{%- endmacro -%}
