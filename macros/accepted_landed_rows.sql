{#-
    accepted_landed_rows(landed, batch_filter): the landed rows a staging model stages, as a
    SELECT: the rows of the batches `batch_filter` keeps (a condition on _batch_id, see
    unstaged_batches), minus the rows the raw suites quarantined (an anti-join on
    _source_file, _source_row against the quarantine source, read for the same batches only).
    Shared by every hashing staging model.
-#}
{% macro accepted_landed_rows(landed, batch_filter) -%}
    select landed.*
    from (
        select * from {{ landed }}
        where {{ batch_filter }}
    ) as landed
    left join (
        select distinct _source_file, _source_row
        from {{ source('quarantine', 'raw_suites') }}
        where {{ batch_filter }}
    ) as quarantined
        on landed._source_file = quarantined._source_file
        and landed._source_row = quarantined._source_row
    where quarantined._source_file is null
{%- endmacro %}
