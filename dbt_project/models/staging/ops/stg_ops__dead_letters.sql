{#- One row per dead letter (a record a sync could not land in bronze), with its
    connection and stream from the path bronze/_dlq/<connection>/<stream>/... -#}
{{ stg_ops_dead_letters('dead_letters', 'bronze/_dlq', 'dead_letter_id', 'dlq_file_path') }}
