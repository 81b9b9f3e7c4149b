"""What an open-data release publishes: its six tables, their columns and rounding.

One :class:`TableSpec` per published table, one :class:`FieldSpec` per column (where its
documentation comes from in the dbt manifest, or its own text), and per table which status
column withholds which value column (:data:`WITHHELD`). Every other module of the release
reads these; nothing here touches the warehouse or the file system.
"""

from __future__ import annotations

from dataclasses import dataclass

ALL = "ALL"
"""The code of a total row ("every value") in a code column."""

DEMAND = "demand_region_age_theme"
STANDARDISED = "demand_standardised"
PERFORMANCE = "service_performance"
ENTERPRISE = "enterprise_demand"
DIVIDE = "digital_divide"
POPULATION = "population"


class PublishError(Exception):
    """A problem the user can act on (no warehouse, bad threshold, version exists...)."""


# --------------------------------------------------------------------------- table metadata


@dataclass(frozen=True)
class FieldSpec:
    """One published column: where its documentation comes from, or its own definition.

    ``source`` = (dbt model, column): description, type and constraints are read from the dbt
    manifest (one source of metadata). Columns that only exist in the release (margins, status
    flags, derived annual rates) carry their own ``description`` here.
    """

    name: str
    type: str
    source: tuple[str, str] | None = None
    description: str | None = None
    key: bool = False
    has_total: bool = False
    minimum: float | None = None
    status_of: str | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    title_zh: str
    title_en: str
    grain: str
    description_zh: str
    description_en: str
    fields: tuple[FieldSpec, ...]


def _status_field(name: str, what: str) -> FieldSpec:
    return FieldSpec(
        name,
        "string",
        status_of=what,
        description=(
            f"Why `{what}` is empty: '' = published, 'suppressed' = fewer distinct applicants "
            "(persons, enterprises) than the release threshold or a count under 10, or "
            "withheld so that no suppressed count can be narrowed from other published "
            "numbers (the two are not told apart), 'small_population' = a rate on fewer than "
            "100 residents (enterprises, cases, ratings) or none."
        ),
    )


YEAR = FieldSpec("year", "integer", ("subj_applicant_demand", "year"), key=True)
REGION_LEVEL = FieldSpec(
    "region_level",
    "string",
    key=True,
    description="Level of the region: county (区县), prefecture (地市) or province (省). Every "
    "prefecture row is the sum of its counties, every province row the sum of its prefectures.",
)
REGION_CODE = FieldSpec(
    "region_code",
    "string",
    key=True,
    description="GB/T 2260 code of the region (current code after code changes; see "
    "region_code_list in datapackage.json).",
)
REGION_NAME = FieldSpec("region_name", "string", description="Name of the region (GB/T 2260).")
PARENT_CODE = FieldSpec(
    "parent_code",
    "string",
    description="Code of the region this row rolls up into (empty for a province).",
)
URBAN_RURAL = FieldSpec(
    "urban_rural",
    "string",
    ("subj_applicant_demand", "urban_rural"),
    description="Urban/rural class of a county (`urban`/`rural`); empty for prefectures and "
    "provinces.",
)
AGE_GROUP = FieldSpec(
    "age_group_code",
    "string",
    ("subj_applicant_demand", "age_group_code"),
    key=True,
    has_total=True,
)
THEME = FieldSpec(
    "theme_code", "string", ("subj_applicant_demand", "theme_code"), key=True, has_total=True
)
CASES = FieldSpec("cases", "integer", ("subj_service_demand", "cases"), minimum=0)

TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        DEMAND,
        "按地区、年龄组、生活事件主题和年份统计的自然人办件需求",
        "Natural-person service demand by region, age group, life-event theme and year",
        "one row per year × region (county, prefecture, province) × age group (ALL = every "
        "age) × life-event theme (ALL = every theme) with at least one case",
        "自然人申请人提交的办件量（按提交年份、申请人常住区县、提交时年龄组、生活事件主题），"
        "以及每千名常住人口办件率（年中人口为分母）。地市、省行为其下级合计，ALL 为合计。",
        "Cases submitted by natural-person applicants, by submission year, applicant residence "
        "county, age group at submission and life-event theme, with the demand rate per 1,000 "
        "mid-year residents. Prefecture and province rows are sums of their counties; ALL rows "
        "are totals.",
        (
            YEAR,
            REGION_LEVEL,
            REGION_CODE,
            REGION_NAME,
            PARENT_CODE,
            URBAN_RURAL,
            AGE_GROUP,
            THEME,
            FieldSpec(
                "theme_name_zh",
                "string",
                ("dim_service_item", "theme_name_zh"),
                description="Theme name (Chinese).",
            ),
            FieldSpec(
                "theme_name_en",
                "string",
                ("dim_service_item", "theme_name_en"),
                description="Theme name (English).",
            ),
            CASES,
            _status_field("cases_status", "cases"),
            FieldSpec(
                "rate_per_1000",
                "number",
                minimum=0,
                description="cases / mid-year residents of the region and age group × 1,000 "
                "over the year (population from the `population` table, sex ALL).",
            ),
            _status_field("rate_status", "rate_per_1000"),
        ),
    ),
    TableSpec(
        STANDARDISED,
        "按区县、主题和年份的年龄标化需求率与标化需求比",
        "Age-standardised demand rate and standardised demand ratio by county, theme and year",
        "one row per year × county × life-event theme (ALL = every theme)",
        "直接法年龄标化办件率与间接法标化需求比（SDR，含 95% 精确泊松置信区间）。SDR 小于 1 "
        "表示办件少于按年龄结构预期，可能是服务不足地区。",
        "Direct age-standardised demand rate and indirect standardised demand ratio (SDR) with "
        "its exact Poisson 95 % interval. An SDR below 1 means fewer cases than the county's "
        "age structure predicts: a candidate under-served area.",
        (
            FieldSpec("year", "integer", ("subj_demand_standardised", "year"), key=True),
            FieldSpec(
                "region_code", "string", ("subj_demand_standardised", "region_code"), key=True
            ),
            REGION_NAME,
            FieldSpec("prefecture_code", "string", ("subj_demand_standardised", "prefecture_code")),
            FieldSpec("urban_rural", "string", ("subj_demand_standardised", "urban_rural")),
            FieldSpec(
                "theme_code",
                "string",
                ("subj_demand_standardised", "theme_code"),
                key=True,
                has_total=True,
            ),
            FieldSpec(
                "crude_rate", "number", ("subj_demand_standardised", "crude_rate"), minimum=0
            ),
            FieldSpec(
                "expected_cases",
                "number",
                ("subj_demand_standardised", "expected_cases"),
                minimum=0,
            ),
            FieldSpec(
                "standardised_ratio",
                "number",
                ("subj_demand_standardised", "standardised_ratio"),
                minimum=0,
            ),
            FieldSpec(
                "ratio_ci_low", "number", ("subj_demand_standardised", "ratio_ci_low"), minimum=0
            ),
            FieldSpec(
                "ratio_ci_high", "number", ("subj_demand_standardised", "ratio_ci_high"), minimum=0
            ),
            _status_field("status", "crude_rate, expected_cases, standardised_ratio, ratio_ci_*"),
            FieldSpec(
                "age_standardised_rate",
                "number",
                ("subj_demand_standardised", "age_standardised_rate"),
                minimum=0,
            ),
            _status_field("asr_status", "age_standardised_rate"),
        ),
    ),
    TableSpec(
        PERFORMANCE,
        "按事项和年份的政务服务办理绩效",
        "Service performance by service item and year",
        "one row per year × service item with at least one case (all regions)",
        "各事项办件量、办结量、办理时长中位数与 90 分位（工作日）、按时办结率、零跑动率、"
        "最多跑一次率、好差评满意率与差评率。",
        "Cases, completed cases, median and 90th percentile processing time (working days), "
        "on-time rate, zero-visit and at-most-one-visit rates, satisfaction and bad-review "
        "rates per service item.",
        (
            FieldSpec("year", "integer", ("subj_service_performance", "year"), key=True),
            FieldSpec("item_code", "string", ("subj_service_performance", "item_code"), key=True),
            FieldSpec(
                "item_name_zh",
                "string",
                ("dim_service_item", "item_name_zh"),
                description="Service item name (Chinese).",
            ),
            FieldSpec(
                "item_name_en",
                "string",
                ("dim_service_item", "item_name_en"),
                description="Service item name (English).",
            ),
            FieldSpec("category_code", "string", ("subj_service_performance", "category_code")),
            FieldSpec("theme_code", "string", ("subj_service_performance", "theme_code")),
            FieldSpec(
                "applicant_type",
                "string",
                ("dim_service_item", "applicant_type"),
                description="Who the item is for: `person` or `enterprise`.",
            ),
            FieldSpec("cases", "integer", ("subj_service_performance", "cases"), minimum=0),
            FieldSpec(
                "completed_cases",
                "integer",
                ("subj_service_performance", "completed_cases"),
                minimum=0,
            ),
            FieldSpec(
                "median_working_days",
                "number",
                minimum=0,
                description="Median processing time of completed cases in working days "
                "(accepted date < d ≤ completed date on the official calendar), exact from the "
                "subj_processing_time histogram (linear interpolation, type 7).",
            ),
            FieldSpec(
                "p90_working_days",
                "number",
                minimum=0,
                description="90th percentile processing time of completed cases in working "
                "days, exact from the subj_processing_time histogram.",
            ),
            FieldSpec(
                "on_time_rate", "number", ("subj_service_performance", "on_time_rate"), minimum=0
            ),
            FieldSpec(
                "zero_visit_rate",
                "number",
                ("subj_service_performance", "zero_visit_rate"),
                minimum=0,
            ),
            FieldSpec(
                "max_one_visit_rate",
                "number",
                ("subj_service_performance", "max_one_visit_rate"),
                minimum=0,
            ),
            FieldSpec(
                "rated_cases", "integer", ("subj_service_performance", "rated_cases"), minimum=0
            ),
            FieldSpec(
                "satisfaction_rate",
                "number",
                ("subj_service_performance", "satisfaction_rate"),
                minimum=0,
            ),
            FieldSpec(
                "bad_review_rate",
                "number",
                ("subj_service_performance", "bad_review_rate"),
                minimum=0,
            ),
            _status_field("status", "cases (and, when set, every statistic of the row)"),
            _status_field("completed_cases_status", "completed_cases"),
            _status_field(
                "processing_status", "median_working_days, p90_working_days, on_time_rate"
            ),
            _status_field("visit_status", "zero_visit_rate, max_one_visit_rate"),
            _status_field("rated_cases_status", "rated_cases"),
            _status_field("rating_status", "satisfaction_rate, bad_review_rate"),
        ),
    ),
    TableSpec(
        ENTERPRISE,
        "按地区、行业和年份统计的企业（法人）办件需求",
        "Enterprise (legal-person) service demand by region, industry and year",
        "one row per year × region (county, prefecture, province) × GB/T 4754 industry section "
        "(ALL = every section) with at least one case or active enterprise",
        "法人申请人办件量（按登记区县与行业门类）、7 月 1 日存续企业数，以及每千户企业办件率。",
        "Cases by legal-person applicants by registered county and industry section, enterprises "
        "active on 1 July, and cases per 1,000 active enterprises.",
        (
            YEAR,
            REGION_LEVEL,
            REGION_CODE,
            REGION_NAME,
            PARENT_CODE,
            FieldSpec(
                "industry_section",
                "string",
                ("subj_applicant_demand", "industry_section"),
                key=True,
                has_total=True,
            ),
            FieldSpec(
                "industry_name_zh",
                "string",
                ("dim_industry", "name_zh"),
                description="Industry section name (Chinese).",
            ),
            FieldSpec(
                "industry_name_en",
                "string",
                ("dim_industry", "name_en"),
                description="Industry section name (English).",
            ),
            FieldSpec("cases", "integer", ("subj_enterprise_demand", "cases"), minimum=0),
            _status_field("cases_status", "cases"),
            FieldSpec(
                "active_enterprises",
                "integer",
                ("subj_enterprise_population", "active_enterprises"),
                minimum=0,
            ),
            _status_field("active_enterprises_status", "active_enterprises"),
            FieldSpec(
                "rate_per_1000",
                "number",
                minimum=0,
                description="cases / active enterprises × 1,000 over the year.",
            ),
            _status_field("rate_status", "rate_per_1000"),
        ),
    ),
    TableSpec(
        DIVIDE,
        "按年龄组、城乡和年份的数字鸿沟（网上办理占比）",
        "Digital divide: online share by age group, urban/rural and year",
        "one row per year × age group (ALL) × urban/rural class of the applicant's county (ALL)",
        "自然人办件中通过网上办事大厅或移动端提交的办件量与占比，按年龄组与城乡划分。",
        "Natural-person cases submitted online (web service hall or mobile app) and offline, "
        "and the online share, by age group and the urban/rural class of the residence county.",
        (
            YEAR,
            AGE_GROUP,
            FieldSpec(
                "urban_rural",
                "string",
                ("subj_applicant_demand", "urban_rural"),
                key=True,
                has_total=True,
            ),
            CASES,
            _status_field("cases_status", "cases"),
            FieldSpec(
                "online_cases",
                "integer",
                minimum=0,
                description="Cases submitted online: web service hall or mobile app "
                "(dim_channel.is_online).",
            ),
            _status_field("online_cases_status", "online_cases"),
            FieldSpec(
                "offline_cases",
                "integer",
                minimum=0,
                description="Cases submitted at a window, a self-service kiosk or by post.",
            ),
            _status_field("offline_cases_status", "offline_cases"),
            FieldSpec(
                "online_share",
                "number",
                minimum=0,
                description="online_cases / cases (web service hall or mobile app).",
            ),
            _status_field("online_share_status", "online_share"),
        ),
    ),
    TableSpec(
        POPULATION,
        "按地区、年龄组、性别和年份的年中常住人口",
        "Mid-year resident population by region, age group, sex and year",
        "one row per year × region (county, prefecture, province) × age group (ALL) × sex (ALL) "
        "with at least one resident",
        "7 月 1 日常住人口（人口基础库），即办件率的分母。",
        "Residents on 1 July from the population register: the denominator of the demand rates.",
        (
            FieldSpec("year", "integer", ("subj_population", "year"), key=True),
            REGION_LEVEL,
            REGION_CODE,
            REGION_NAME,
            PARENT_CODE,
            FieldSpec(
                "age_group_code",
                "string",
                ("subj_population", "age_group_code"),
                key=True,
                has_total=True,
            ),
            FieldSpec(
                "sex",
                "string",
                ("subj_population_pyramid", "sex"),
                key=True,
                has_total=True,
                description="Sex of the residents as recorded in the register; ALL = both.",
            ),
            FieldSpec("population", "integer", ("subj_population", "population"), minimum=0),
            _status_field("population_status", "population"),
        ),
    ),
)
TABLE_BY_NAME = {t.name: t for t in TABLES}


WITHHELD = {
    # value column -> the status column that withholds it
    DEMAND: {"cases": "cases_status", "rate_per_1000": "rate_status"},
    STANDARDISED: {
        "crude_rate": "status",
        "expected_cases": "status",
        "standardised_ratio": "status",
        "ratio_ci_low": "status",
        "ratio_ci_high": "status",
        "age_standardised_rate": "asr_status",
    },
    PERFORMANCE: {
        "cases": "status",
        "completed_cases": "completed_cases_status",
        "median_working_days": "processing_status",
        "p90_working_days": "processing_status",
        "on_time_rate": "processing_status",
        "zero_visit_rate": "visit_status",
        "max_one_visit_rate": "visit_status",
        "rated_cases": "rated_cases_status",
        "satisfaction_rate": "rating_status",
        "bad_review_rate": "rating_status",
    },
    ENTERPRISE: {
        "cases": "cases_status",
        "active_enterprises": "active_enterprises_status",
        "rate_per_1000": "rate_status",
    },
    DIVIDE: {
        "cases": "cases_status",
        "online_cases": "online_cases_status",
        "offline_cases": "offline_cases_status",
        "online_share": "online_share_status",
    },
    POPULATION: {"population": "population_status"},
}
ROUNDING = {
    "crude_rate": 3,
    "expected_cases": 2,
    "standardised_ratio": 4,
    "ratio_ci_low": 4,
    "ratio_ci_high": 4,
    "age_standardised_rate": 3,
    "median_working_days": 2,
    "p90_working_days": 2,
    "on_time_rate": 4,
    "zero_visit_rate": 4,
    "max_one_visit_rate": 4,
    "satisfaction_rate": 4,
    "bad_review_rate": 4,
}
