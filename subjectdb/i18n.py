"""Chinese and English strings of the dashboard (Chinese is the default language).

Every label, axis title, tooltip and message the dashboard shows comes from :data:`STRINGS`
(the metrics' labels from :mod:`subjectdb.metrics`);
code → name labels of regions, themes, channels … come from the warehouse's reference tables.
"""

from __future__ import annotations

from subjectdb import metrics

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"

STRINGS: dict[str, tuple[str, str]] = {
    # app and navigation
    "app.title": ("互联网+政务服务需求分析", "Internet+ government services: demand analysis"),
    "app.language": ("语言 / Language", "语言 / Language"),
    "app.filters": ("筛选条件", "Filters"),
    "app.reset": ("清除筛选", "Clear filters"),
    "app.share": (
        "当前视图的链接即包含全部筛选条件，可直接分享。",
        "This page's link holds every filter: share it to share the view.",
    ),
    "app.no_warehouse": (
        "尚无数据仓库：{path}。请先运行 `subjectdb build`。",
        "No warehouse yet at {path}: run `subjectdb build` first.",
    ),
    "app.warehouse_error": (
        "暂时无法读取数据仓库（可能正在更新），请稍后刷新：{error}",
        "The warehouse cannot be read right now (a build may be swapping it "
        "in); refresh shortly: {error}",
    ),
    "app.build": ("数据版本", "Data build"),
    "app.bad_url": (
        "链接中的部分筛选值无效，已忽略：{values}",
        "Some filter values in the link are not valid and were ignored: {values}",
    ),
    "page.overview": ("概览", "Overview"),
    "page.map": ("需求地图", "Demand map"),
    "page.age": ("年龄结构", "Age groups"),
    "page.services": ("服务类型", "Service types"),
    "page.trends": ("趋势", "Trends"),
    "page.performance": ("办理绩效", "Performance"),
    "page.digital": ("数字鸿沟", "Digital divide"),
    "page.enterprises": ("企业需求", "Enterprises"),
    "page.quality": ("数据质量", "Data quality"),
    "page.opendata": ("开放数据", "Open data"),
    "page.catalogue": ("资源目录", "Resource catalogue"),
    "page.api_audit": ("接口访问审计", "API access audit"),
    "page.verification": ("交互核验", "Cross-verification"),
    # filters
    "f.period_mode": ("时间范围", "Period"),
    "f.mode_year": ("按年", "Year"),
    "f.mode_months": ("按月份区间", "Month range"),
    "f.year": ("年份", "Year"),
    "f.months": ("月份", "Months"),
    "f.province": ("省", "Province"),
    "f.prefecture": ("市（地级）", "Prefecture"),
    "f.county": ("县（区）", "County"),
    "f.all": ("全部", "All"),
    "f.age_group": ("年龄组", "Age group"),
    "f.category": ("事项类别", "Service category"),
    "f.theme": ("生活事件主题", "Life-event theme"),
    "f.applicant_type": ("申请人类型", "Applicant type"),
    "f.channel": ("办理渠道", "Channel"),
    "f.region": ("地区", "Region"),
    "f.period": ("时间", "Period"),
    "f.ignored": (
        "本图的数据表没有以下维度，相应筛选未应用：{dims}",
        "The table behind this chart has no such dimension; these filters are not applied: {dims}",
    ),
    # generic chart furniture
    "c.definition": ("指标定义", "Definition"),
    "c.no_definition": ("模型 {model} 尚无文档说明。", "Model {model} has no documentation yet."),
    "c.source": ("数据来源：{model}", "Source: {model}"),
    "c.download": ("下载本图数据（CSV）", "Download this chart's data (CSV)"),
    "c.suppressed": ("已抑制", "suppressed"),
    "c.suppressed_value": ("<10", "<10"),
    "c.suppression_note": (
        "少于 {n} 名不同申请人的单元格已抑制，不显示数值。",
        "Cells with fewer than {n} distinct applicants are suppressed.",
    ),
    "c.no_data": ("当前筛选条件下没有数据。", "No data for the current filters."),
    "c.table": ("数据表", "Data table"),
    # measures
    "m.cases": ("办件量", "Cases"),
    "m.distinct_applicants": ("不同申请人数", "Distinct applicants"),
    "m.online_cases": ("网上办件量", "Online cases"),
    "m.person_cases": ("自然人办件量", "Natural-person cases"),
    "m.population": ("年中常住人口", "Mid-year residents"),
    "m.completed_cases": ("办结量", "Completed cases"),
    "m.rated_cases": ("评价量", "Rated cases"),
    "m.late_cases": ("超期办件", "Cases over the promised days"),
    "m.bad_review_cases": ("差评件数", "Bad reviews"),
    "m.age_standardised_rate": ("年龄标化需求率（每千人）", "Age-standardised rate per 1,000"),
    "m.ratio_ci_low": ("标化需求比 95% 下限", "Ratio 95% CI low"),
    "m.ratio_ci_high": ("标化需求比 95% 上限", "Ratio 95% CI high"),
    "m.expected_cases": ("期望办件量", "Expected cases"),
    "m.median_working_days": ("办理时长中位数（工作日）", "Median working days"),
    "m.p90_working_days": ("办理时长 90 分位（工作日）", "90th percentile working days"),
    "m.days_vs_promise": ("实际工作日 − 承诺工作日", "Working days − promised days"),
    "m.active_enterprises": ("年中存续企业数", "Active enterprises (1 July)"),
    "m.previous_cases": ("上期办件量", "Cases, previous period"),
    "m.growth": ("环比增长", "Growth on previous period"),
    "m.elderly_online_share": ("60 岁及以上申请网上办理占比", "Online share, applicants 60+"),
    "m.elderly_cases": ("60 岁及以上办件量", "Cases, applicants 60+"),
    "m.share": ("占比", "Share"),
    "m.rows": ("行数", "Rows"),
    "m.suppressed": ("是否抑制", "Suppressed"),
    "m.distinct_applicants_min": ("不同申请人数（下限）", "Distinct applicants (lower bound)"),
    # dimension labels
    "d.month": ("月份", "Month"),
    "d.year": ("年份", "Year"),
    "d.month_of_year": ("月", "Month of year"),
    "d.county": ("县（区）", "County"),
    "d.prefecture": ("市（地级）", "Prefecture"),
    "d.province": ("省", "Province"),
    "d.urban_rural": ("城乡", "Urban / rural"),
    "d.age_group": ("年龄组", "Age group"),
    "d.band": ("五岁年龄组", "5-year age band"),
    "d.sex": ("性别", "Sex"),
    "d.category": ("事项类别", "Category"),
    "d.theme": ("生活事件主题", "Life-event theme"),
    "d.item": ("服务事项", "Service item"),
    "d.department": ("办理部门", "Department"),
    "d.applicant_type": ("申请人类型", "Applicant type"),
    "d.channel": ("渠道", "Channel"),
    "d.industry": ("行业门类", "Industry section"),
    "d.size_class": ("企业规模", "Size class"),
    "d.male": ("男", "Male"),
    "d.female": ("女", "Female"),
    "d.period_current": ("本期", "This period"),
    "d.period_previous": ("上期", "Previous period"),
    "d.series": ("序列", "Series"),
    "d.check": ("核验项", "Check"),
    # overview
    "ov.kpis": (
        "关键指标（与上一等长期间相比）",
        "Key figures (change on the previous period of equal length)",
    ),
    "ov.trend": ("月度办件量", "Cases by month"),
    "ov.period": (
        "本期 {a} 至 {b}；上期 {c} 至 {d}",
        "This period {a} to {b}; previous {c} to {d}",
    ),
    # map
    "map.metric": ("地图指标", "Map metric"),
    "map.level": ("地图层级", "Map level"),
    "map.title": ("需求地图：{metric}", "Demand map: {metric}"),
    "map.click": (
        "在地图上框选一个地区，或在排名表中选中一行，可向下钻取。",
        "Drill down: draw a box around a region on the map, or select a row of the ranking.",
    ),
    "map.std_note": (
        "标化指标按 {year} 年、主题“{theme}”计算，只有县级结果。",
        "Standardised metrics are for {year}, theme “{theme}”, at county level only.",
    ),
    "map.std_multi_theme": (
        "选择了多个主题：标化指标使用全部主题。",
        "Several themes are selected: standardised metrics use all themes.",
    ),
    "map.ranking": (
        "地区排名（按所选指标升序，最低在前）",
        "Regions ranked by the metric, lowest first",
    ),
    "map.missing_geo": (
        "以下地区没有边界数据，未在地图上显示：{codes}",
        "No boundary for these regions; not drawn: {codes}",
    ),
    "map.ci": ("95% 置信区间", "95% CI"),
    "map.all_themes": ("全部主题", "all themes"),
    # age groups
    "age.pop_pyramid": (
        "人口金字塔（{year} 年年中，按性别）",
        "Population pyramid (mid-{year}, by sex)",
    ),
    "age.demand_pyramid": ("按年龄组的办件量与需求率", "Demand by age group"),
    "age.heatmap": (
        "每千人办件量：年龄组 × 生活事件主题",
        "Cases per 1,000 residents: age group × life-event theme",
    ),
    # services
    "svc.treemap": ("办件量结构：类别 → 主题 → 事项", "Cases: category → theme → item"),
    "svc.top": ("办件量最多的事项", "Items with the most cases"),
    "svc.growth": ("事项办件量环比增长", "Growth of cases by item on the previous period"),
    "svc.top_n": ("显示前 N 个事项", "Show top N items"),
    # trends
    "tr.monthly": ("月度办件量与需求率", "Monthly cases and rate"),
    "tr.yoy": (
        "同比：本期与上年同期",
        "Year on year: this period and the same months a year earlier",
    ),
    "tr.season": (
        "季节性：各年按月办件量（全部可用月份）",
        "Seasonality: cases by calendar month and year (all months available)",
    ),
    "tr.season_note": (
        "季节性图使用仓库中全部月份，时间筛选不适用。",
        "The seasonality chart uses every month in the warehouse; the period "
        "filter does not apply.",
    ),
    # performance
    "pf.summary": ("办理绩效概况", "Performance summary"),
    "pf.hist": ("办理时长分布（相对承诺时限）", "Processing time against the promised days"),
    "pf.hist_note": ("0 左侧为提前办结，右侧为超期。", "Left of 0: early; right of 0: late."),
    "pf.league_items": ("事项排行", "League table of items"),
    "pf.league_depts": ("部门排行", "League table of departments"),
    "pf.sort_by": ("排序依据", "Sort by"),
    "pf.lower_bound": (
        "事项、部门单元格以各行不同申请人数的最大值作为下限判定抑制（保守）。",
        "Item and department cells are suppressed unless the largest per-row "
        "applicant count (a lower bound) reaches the threshold (conservative).",
    ),
    # digital divide
    "dd.age_ur": ("网上办理占比：年龄组 × 城乡", "Online share by age group × urban/rural"),
    "dd.region": ("网上办理占比：按地区", "Online share by region"),
    "dd.channels": ("各年龄组的渠道构成", "Channel mix by age group"),
    # enterprises
    "ent.industry": ("每千户企业办件量：按行业门类", "Cases per 1,000 enterprises by industry"),
    "ent.size": ("每千户企业办件量：按企业规模", "Cases per 1,000 enterprises by size class"),
    "ent.region": ("每千户企业办件量：按地区", "Cases per 1,000 enterprises by region"),
    # data quality
    "dq.validation": (
        "最新数据校验结果（Great Expectations）",
        "Latest validation results (Great Expectations)",
    ),
    "dq.no_validation": ("尚无校验结果：{path}", "No validation results yet: {path}"),
    "dq.quarantine": ("隔离行数：按原因与批次", "Quarantined rows by reason and batch"),
    "dq.no_quarantine": ("没有隔离记录。", "Nothing in quarantine."),
    "dq.reconciliation": ("加载对账（每个文件）", "Load reconciliation (per file)"),
    "dq.no_reconciliation": ("尚无对账记录：{path}", "No reconciliation yet: {path}"),
    "dq.reason": ("原因", "Reason"),
    "dq.batch": ("批次", "Batch"),
    "dq.extract": ("数据源", "Extract"),
    "dq.stage": ("阶段", "Stage"),
    "dq.expectations": ("{n} 条校验规则", "{n} expectations"),
    "dq.success_rate": ("通过率", "Pass rate"),
    "dq.definition": (
        "隔离行与对账来自加载与校验步骤，不含个人数据原文，仅显示计数。",
        "Quarantine and reconciliation come from the load and validation steps; "
        "only counts are shown, never the rows.",
    ),
    # resource catalogue (政务信息资源目录)
    "cat.intro": (
        "政务信息资源目录：每项可共享资源的标识符、名称、提供部门、更新周期、共享类型与开放类型，"
        "以及字段与数据标准。目录随 dbt 模型维护，开放数据发布与共享接口均按目录执行。",
        "The government information resource catalogue: identifier, title, providing "
        "department, update cycle, sharing and opening type, fields and data standards of every "
        "shareable resource. It is kept with the dbt models; the open-data release and the "
        "sharing API both enforce it.",
    ),
    "cat.source": ("目录来源：{source}", "Catalogue read from: {source}"),
    "cat.error": ("无法读取资源目录：{error}", "The catalogue cannot be read: {error}"),
    "cat.resources": ("资源数", "Resources"),
    "cat.shared": ("可共享（无条件 / 有条件）", "Shareable (unconditional / conditional)"),
    "cat.opened": ("无条件开放", "Opened unconditionally"),
    "cat.kind": ("资源类型", "Kind"),
    "cat.kind_table": ("主题数据表", "Subject table"),
    "cat.kind_dimension": ("维度表", "Dimension"),
    "cat.kind_verification": ("核验服务", "Verification service"),
    "cat.kind_feedback": ("反馈清单", "Feedback list"),
    "cat.cycle_daily": ("每日", "daily"),
    "cat.cycle_monthly": ("每月", "monthly"),
    "cat.cycle_yearly": ("每年", "yearly"),
    "cat.cycle_on_change": ("变更时", "on change"),
    "cat.cycle_on_release": ("随版本发布", "with each release"),
    "cat.table": ("资源清单", "Resources"),
    "cat.fields": ("字段与数据标准", "Fields and data standards"),
    "cat.no_fields": ("该资源未登记字段。", "No fields are documented for this resource."),
    "cat.col.identifier": ("资源标识符", "Identifier"),
    "cat.col.kind": ("资源类型", "Kind"),
    "cat.col.model": ("dbt 模型", "dbt model"),
    "cat.col.title": ("资源名称", "Title"),
    "cat.col.description": ("资源摘要", "Description"),
    "cat.col.provider": ("提供部门", "Provider"),
    "cat.col.update_cycle": ("更新周期", "Update cycle"),
    "cat.col.sharing_type": ("共享类型", "Sharing type"),
    "cat.col.departments": ("授权部门", "Departments granted"),
    "cat.col.purposes": ("授权用途", "Purposes granted"),
    "cat.col.opening_type": ("开放类型", "Opening type"),
    "cat.col.release_tables": ("开放数据表", "Open-data tables"),
    "cat.col.fields": ("字段", "Fields"),
    "cat.col.name": ("字段名", "Field"),
    "cat.col.data_type": ("类型", "Type"),
    "cat.col.standard": ("数据标准", "Standard"),
    # API access audit (数据访问审计)
    "aud.intro": (
        "共享接口的每次调用（含被拒绝的调用）都追加写入审计日志：调用部门、密钥、资源、筛选条件、"
        "返回行数、状态码与耗时。核验提交的身份证号码只记录其密钥哈希或批次摘要，不记录原文。",
        "Every call of the sharing API, refused ones included, is appended to the audit log: "
        "department, key, resource, filters, rows returned, status and duration. Identifiers "
        "sent for verification are logged only as keyed hashes or a batch digest.",
    ),
    "aud.none": (
        "尚无接口调用记录：{path}。部门使用 `subjectdb api` 提供的接口后，此处显示其调用。",
        "No API call recorded yet: {path}. Calls appear here once departments use the API "
        "served by `subjectdb api`.",
    ),
    "aud.calls": ("调用次数", "Calls"),
    "aud.refused": ("被拒绝或出错", "Refused or failed"),
    "aud.departments": ("调用部门数", "Departments"),
    "aud.rows": ("返回行数", "Rows returned"),
    "aud.department": ("调用部门", "Department"),
    "aud.resource": ("资源", "Resource"),
    "aud.outcome": ("结果", "Outcome"),
    "aud.errors": ("拒绝或出错（4xx/5xx）", "Refused or failed (4xx/5xx)"),
    "aud.anonymous": ("（未认证）", "(unauthenticated)"),
    "aud.by_department": ("各部门调用次数（按状态码）", "Calls by department and status"),
    "aud.log": ("调用明细（最新在前）", "Calls, newest first"),
    "aud.shown": (
        "显示最新 {shown} 条，共 {total} 条；下载包含全部 {total} 条。",
        "Showing the newest {shown} of {total} calls; the download holds all {total}.",
    ),
    "aud.col.time": ("时间（UTC）", "Time (UTC)"),
    "aud.col.key_id": ("密钥编号", "Key id"),
    "aud.col.method": ("方法", "Method"),
    "aud.col.path": ("路径", "Path"),
    "aud.col.filters": ("筛选条件", "Filters"),
    "aud.col.status": ("状态码", "Status"),
    "aud.col.error": ("错误码", "Error"),
    "aud.col.duration_ms": ("耗时（毫秒）", "Duration (ms)"),
    "aud.col.client_address": ("客户端地址", "Client address"),
    # cross-verification (交互核验)
    "xv.intro": (
        "办件数据与人口基础库、法人基础库交互核验：申请人不在人口库、提交前已死亡、提交时非本区县常住；"
        "企业未登记、提交时已注销或吊销、登记地不在办件区县。按办理部门、事项、月份与核验项统计，"
        "比率为每千件同类申请人办件中的不一致数。",
        "The approval data checked against the population and enterprise registers: "
        "applicant not registered, deceased before submission, not resident in the case's "
        "county; enterprise not registered, closed at submission, registered in another "
        "county. Counted by handling department, item, month and check; the rate is "
        "mismatches per 1,000 cases of the check's applicant type.",
    ),
    "xv.restricted": (
        "有条件共享、不予开放的内部核验结果：办件数不作小单元格抑制，反馈清单仅含办件编号。",
        "An internal result, shared on conditions and never opened: case counts are not "
        "suppressed, and feedback lists hold case ids only.",
    ),
    "xv.none": ("所选时段内没有核验结果。", "No cross-verification results in the period."),
    "xv.checked": ("核验办件数", "Cases checked"),
    "m.mismatches": ("核验不一致办件数", "Mismatching cases"),
    "xv.by_department": (
        "不一致办件最多的 {n} 个办理部门（按核验项；全部部门及每千件比率见数据表）",
        "The {n} departments with the most mismatching cases, by check (every department "
        "and the rates per 1,000 in the data table)",
    ),
    "xv.department": ("办理部门", "Handling department"),
    "xv.department_help": (
        "默认选中所选时段内不一致办件最多的部门。",
        "By default the department with the most mismatches in the period.",
    ),
    "xv.by_item": ("{dept}：各事项核验不一致情况", "{dept}: mismatches by service item"),
    "xv.trend": ("{dept}：每千件不一致数按月", "{dept}: mismatches per 1,000 cases by month"),
    "xv.feedback": ("{dept}：反馈清单", "{dept}: feedback list"),
    "xv.feedback_note": (
        "本部门办理、核验不一致的办件编号及核验项（共 {n} 件），供部门自行核查；"
        "共享接口 `GET /v1/feedback` 提供同一清单。",
        "The department's own cases that failed a register check, with the check ({n} "
        "cases), for its own follow-up; the sharing API serves the same list at "
        "`GET /v1/feedback`.",
    ),
    "xv.feedback_empty": (
        "该部门在所选时段内没有核验不一致的办件。",
        "No mismatching case of this department in the period.",
    ),
    "xv.feedback_download": ("下载反馈清单（CSV）", "Download the feedback list (CSV)"),
    "xv.detail": (
        "明细：部门 × 事项 × 月份 × 核验项",
        "Detail: department × item × month × check",
    ),
    "xv.case_id": ("办件编号", "Case id"),
    "xv.all_checks": ("全部核验项", "All checks"),
    "xv.person_not_registered": ("申请人不在人口库", "Applicant not in the population register"),
    "xv.person_deceased": ("提交前已死亡", "Deceased before submission"),
    "xv.person_not_resident": ("提交时非本区县常住", "Not resident in the case's county"),
    "xv.enterprise_not_registered": ("企业未登记", "Enterprise not registered"),
    "xv.enterprise_closed": ("提交时已注销或吊销", "Enterprise closed at submission"),
    "xv.enterprise_other_region": ("企业登记地不符", "Enterprise registered in another county"),
}

# the metrics' labels come from their one definition (dbt_project.yml vars.metrics)
STRINGS.update({f"m.{m.name}": (m.label("zh"), m.label("en")) for m in metrics.metrics().values()})


def t(key: str, lang: str = DEFAULT_LANG, **kwargs: object) -> str:
    """The string ``key`` in ``lang``, formatted with ``kwargs``."""
    try:
        pair = STRINGS[key]
    except KeyError as exc:
        raise KeyError(f"no dashboard string {key!r}") from exc
    text = pair[1] if lang == "en" else pair[0]
    return text.format(**kwargs) if kwargs else text
