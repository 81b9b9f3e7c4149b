{#-
    The dashboard's demand dimensions, once: for each id column of dash_applicant_demand, the
    dash_codes id space (`dim`) and the subj_applicant_demand column it encodes. dash_codes
    lists the codes of every entry; dash_applicant_demand joins each entry to its id.
    Counties, prefectures and provinces share the `region` space.
-#}
{% macro dash_dimensions() %}
    {{ return([
        {'alias': 'county', 'dim': 'region', 'column': 'region_code'},
        {'alias': 'prefecture', 'dim': 'region', 'column': 'prefecture_code'},
        {'alias': 'province', 'dim': 'region', 'column': 'province_code'},
        {'alias': 'urban_rural', 'dim': 'urban_rural', 'column': 'urban_rural'},
        {'alias': 'age_group', 'dim': 'age_group', 'column': 'age_group_code'},
        {'alias': 'category', 'dim': 'category', 'column': 'category_code'},
        {'alias': 'theme', 'dim': 'theme', 'column': 'theme_code'},
        {'alias': 'applicant_type', 'dim': 'applicant_type', 'column': 'applicant_type'},
        {'alias': 'channel', 'dim': 'channel', 'column': 'channel_code'},
        {'alias': 'industry', 'dim': 'industry', 'column': 'industry_section'},
        {'alias': 'size_class', 'dim': 'size_class', 'column': 'size_class'},
    ]) }}
{% endmacro %}
