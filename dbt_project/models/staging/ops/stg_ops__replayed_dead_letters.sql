{#- One row per dead letter a replay took out of the DLQ (lakehouse dlq replay): it was
    landed in bronze then, or written to the DLQ again with a new reason. The connection
    and stream come from the path _ops/dlq_replayed/<connection>/<stream>/...; without
    the record's text (raw). -#}
{{ stg_ops_dead_letters(
    'replayed_dead_letters', '_ops/dlq_replayed', 'replayed_dead_letter_id',
    'replayed_file_path', with_raw=false
) }}
