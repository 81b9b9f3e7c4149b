{#-
    unstaged_batches(landed): for an incremental staging model, a SQL condition on `_batch_id`
    that keeps only the landed batches the model has not staged yet.

    Landing partitions are immutable (one folder per batch, written once by `subjectdb load`),
    so a staged batch never needs staging again: an incremental build reads and hashes only
    the new batches' rows. The batch list is looked up when the model runs and written into
    the SQL as constants, so DuckDB skips every other Parquet file by its row-group statistics
    instead of reading it. A batch whose every row was quarantined is never stored and is
    simply looked at again (and dropped again) by later builds.

    A full refresh (`subjectdb build --full-refresh`) restages every batch: needed after a
    change of the HMAC key, of a staging mapping seed or of the raw suites' rules.
-#}
{% macro unstaged_batches(landed) %}
    {%- if is_incremental() and execute -%}
        {%- set query -%}
            select distinct _batch_id from {{ landed }} where _batch_id is not null
            except
            select distinct _batch_id from {{ this }}
            order by 1
        {%- endset -%}
        {%- set batches = run_query(query).columns[0].values() -%}
        {%- if batches | length == 0 -%}
            false
        {%- else -%}
            _batch_id in (
            {%- for batch in batches -%}
                '{{ batch | replace("'", "''") }}'{{ ", " if not loop.last }}
            {%- endfor -%}
            )
        {%- endif -%}
    {%- else -%}
        true
    {%- endif -%}
{% endmacro %}
