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
    "app.build": ("数据版本", "Data version"),
    "app.build_id": ("构建 {build}", "Build {build}"),
    "app.release": ("最新发布 {version}", "Latest release {version}"),
    "app.no_release": ("开放数据：尚未发布", "Open data: not yet published"),
    "app.bad_url": (
        "链接中的部分筛选值无效，已忽略：{values}",
        "Some filter values in the link are not valid and were ignored: {values}",
    ),
    "page.overview": ("概览", "Overview"),
    "page.map": ("需求地图", "Demand map"),
    "page.age": ("年龄结构", "Age groups"),
    "page.compare": ("地区对比", "Compare regions"),
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
    "f.sex": ("性别", "Sex"),
    "f.urban_rural": ("城乡", "Urban / rural"),
    "f.industry": ("行业门类（企业）", "Industry section (enterprises)"),
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
    "c.model_untitled": ("主题数据表", "a subject table"),
    "c.metric_source": ("指标统一定义（dbt 项目变量）", "the metric's one definition (dbt vars)"),
    "c.download": ("下载本图数据（CSV）", "Download this chart's data (CSV)"),
    "c.suppressed": ("已抑制", "suppressed"),
    "c.suppressed_value": ("<10", "<10"),
    "c.suppression_note": (
        "少于 {n} 名不同申请人的单元格已抑制，不显示数值。",
        "Cells with fewer than {n} distinct applicants are suppressed.",
    ),
    "c.no_data": ("当前筛选条件下没有数据。", "No data for the current filters."),
    "c.all_suppressed": (
        "当前筛选条件下每个单元格都少于 {n} 名不同申请人，均已抑制，无图可画。",
        "Every cell for the current filters has fewer than {n} distinct applicants and is "
        "suppressed: nothing to draw.",
    ),
    "c.nothing_to_plot": (
        "当前筛选条件下没有可显示的数值（单元格已抑制或没有数据）。",
        "Nothing to plot for the current filters (cells suppressed or no data).",
    ),
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
    "d.significance": ("显著性（95%）", "Significance (95 %)"),
    "sig.low": ("显著偏低", "significantly low"),
    "sig.high": ("显著偏高", "significantly high"),
    "sig.none": ("不显著", "not significant"),
    "sig.unknown": ("—", "—"),
    "sig.sentence": (
        "标化需求比的 95% 置信区间完全低于 1（需求显著低于年龄结构的预期，可能服务不足）：{low}；"
        "完全高于 1：{high}。地图上以粗黑边框标出。",
        "Counties whose 95 % interval of the standardised ratio lies wholly below 1 (fewer "
        "cases than their age structure predicts, possibly under-served): {low}; wholly "
        "above 1: {high}. Outlined in black on the map.",
    ),
    "sig.nobody": ("无", "none"),
    "map.all_themes": ("全部主题", "all themes"),
    # comparison
    "cmp.pick": ("选择 2–4 个地区（县区或地级市）", "Pick 2–4 regions (counties or prefectures)"),
    "cmp.placeholder": ("输入地区名称", "Type a region's name"),
    "cmp.need_two": (
        "请至少选择两个地区进行对比；链接会记住所选地区。",
        "Pick at least two regions to compare; the link keeps them.",
    ),
    "cmp.bad": ("链接中的地区代码无效，已忽略：{values}", "Unknown region codes ignored: {values}"),
    "cmp.region_filter": (
        "本页对比所选地区，侧栏的地区筛选不适用；其他筛选条件照常适用。",
        "This page compares the regions picked here: the sidebar's region filter does not "
        "apply; the other filters do.",
    ),
    "cmp.region": ("地区", "Region"),
    "cmp.province": ("全省", "Province"),
    "cmp.withheld": (
        "以下地区的数值少于 10 名申请人（或不足 100 名居民），已抑制：{names}",
        "Withheld (fewer than 10 applicants or 100 residents): {names}",
    ),
    "cmp.missing": (
        "以下地区没有该指标的数值（比率的分母不足 100 名居民时不显示，"
        "或没有办结/评价的办件）：{names}",
        "No value for these regions (a rate on fewer than 100 residents is withheld, or no "
        "case was completed or rated): {names}",
    ),
    "cmp.std_note": (
        "标化需求比为 {year} 年县级结果；全省为 1（参照线）。",
        "The standardised ratio is a county result for {year}; the province is 1 (the line).",
    ),
    "cmp.table": ("对比表：各地区与全省", "All metrics: the regions and the province"),
    "cmp.online_monthly": (
        "网上办理占比按月（虚线为全省）",
        "Online share by month (dashed: the province)",
    ),
    # age groups
    "age.pyramid_axis": ("年中常住人口（男 ← → 女）", "Mid-year residents (men ← → women)"),
    "age.pop_pyramid": (
        "人口金字塔（{year} 年年中，按性别）",
        "Population pyramid (mid-{year}, by sex)",
    ),
    "age.sex_demand": (
        "按性别与年龄组的办件量（需求率见数据表：每千名同性别同年龄组居民）",
        "Cases by sex and age group (rates per 1,000 residents of the same sex and age "
        "group in the table)",
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
    "tr.indicators": (
        "月度指标：网上办理占比、按时办结率、好评率、差评率、跑动次数",
        "Monthly indicators: online share, on-time, satisfaction, bad-review and visit rates",
    ),
    "tr.indicators_note": (
        "各指标均按提交月份统计；年龄组与渠道筛选不适用于办理绩效指标（绩效表没有这两个维度）。",
        "Every indicator is by submission month; the age-group and channel filters do not "
        "apply to the performance rates (their table has neither dimension).",
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
    "pf.league_items": ("事项排行（{measure}，{order}）", "Items by {measure}, {order}"),
    "pf.league_depts": ("部门排行（{measure}，{order}）", "Departments by {measure}, {order}"),
    "pf.league_item_depts": (
        "事项 × 部门排行（{measure}，{order}）",
        "Items × departments by {measure}, {order}",
    ),
    "pf.order": ("顺序", "Order"),
    "pf.order_desc": ("最高在前", "highest first"),
    "pf.order_asc": ("最低在前", "lowest first"),
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
    "dd.channel_share": ("占本年龄组办件量的比例", "Share of the age group's cases"),
    "dd.suppressed_channels": ("已抑制的渠道（<10）", "Suppressed channels (<10)"),
    "dd.channel_note": (
        "每根柱为该年龄组全部办件（100%）；少于 10 名申请人的渠道合并显示为灰色“已抑制”。",
        "Each bar is all of the age group's cases (100 %); channels with fewer than 10 "
        "applicants are shown together in grey as suppressed.",
    ),
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
    "dq.suite": ("规则集", "Suite"),
    "dq.build": ("构建记录", "Build record"),
    "dq.build_id": ("构建编号", "Build id"),
    "dq.built_at": ("构建时间（UTC）", "Built at (UTC)"),
    "dq.full_refresh": ("全量重建", "Full rebuild"),
    "dq.yes": ("是", "yes"),
    "dq.no": ("否", "no"),
    "dq.rule": ("规则", "Rule"),
    "dq.severity": ("级别", "Severity"),
    "dq.status": ("结果", "Result"),
    "dq.checks": ("检查次数", "Checks"),
    "dq.failed": ("未通过或警告的规则", "Rules failed or warned"),
    "dq.all_passed": (
        "适用于当前状态的全部规则均已通过。",
        "Every rule that applies to the state shown passed.",
    ),
    "dq.not_published": (
        "尚未发布开放数据：发布检查不适用（“尚未发布”），不计为失败。",
        "Nothing is published yet: the release checks do not apply (not yet published) and "
        "do not count as failures.",
    ),
    "dq.release_stale": (
        "发布检查的结果早于最新发布 {release}：请运行 subjectdb validate 重新检查。",
        "The release checks predate the latest release {release}: run subjectdb validate.",
    ),
    "dq.rec.file": ("文件", "File"),
    "dq.rec.extract": ("数据源", "Extract"),
    "dq.rec.batch": ("批次", "Batch"),
    "dq.rec.encoding": ("编码", "Encoding"),
    "dq.rec.rows_read": ("读取行数", "Rows read"),
    "dq.rec.rows_landed": ("入库行数", "Rows landed"),
    "dq.rec.rows_quarantined": ("隔离行数", "Rows quarantined"),
    "dq.rec.loaded_at": ("加载时间", "Loaded at"),
    "dq.rec.lines": ("文件行数", "Lines"),
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

# data quality: stages, suites, extracts, rules and quarantine reasons (code → zh, en)
DQ_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "stage": {
        "load": ("加载（结构）", "Load (structure)"),
        "raw_suite": ("原始数据标准校验", "Raw-extract standards"),
        "gate": ("发布闸门", "Publication gates"),
        "error": ("运行错误", "Run error"),
    },
    "suite": {
        "raw_cases": ("办件原始数据", "Approval cases (raw)"),
        "raw_persons": ("人口原始数据", "Population register (raw)"),
        "raw_enterprises": ("企业原始数据", "Enterprise register (raw)"),
        "gate_subject_tables": ("主题表取值范围", "Subject tables: value ranges"),
        "gate_personal_data": ("主题表不含个人信息", "Subject tables: no personal data"),
        "gate_reconciliation": ("办件总数对账", "Case totals reconcile"),
        "gate_open_data": ("开放数据发布", "Open-data release"),
    },
    "extract": {
        "cases": ("办件", "Cases"),
        "persons": ("人口", "Persons"),
        "enterprises": ("企业", "Enterprises"),
    },
    "rule": {
        "expect_applicant_to_be_born_by_submission": (
            "申请人在提交日前已出生",
            "Applicant born by the submission date",
        ),
        "expect_birth_date_and_sex_to_agree_with_resident_id": (
            "出生日期与性别与身份证号一致",
            "Birth date and sex agree with the resident ID",
        ),
        "expect_column_pair_values_a_to_be_greater_than_b": (
            "日期或数值先后顺序正确",
            "Dates or values in the right order",
        ),
        "expect_column_pair_values_to_be_equal": ("两处合计相等", "Two totals are equal"),
        "expect_column_values_to_be_between": ("取值在合理范围内", "Values within range"),
        "expect_column_values_to_be_county_region_codes": (
            "地区为县级行政区划代码",
            "Region is a county code",
        ),
        "expect_column_values_to_be_in_calendar": (
            "日期在官方日历覆盖范围内",
            "Date within the official calendar",
        ),
        "expect_column_values_to_be_in_gbt2260_region_codes": (
            "行政区划代码符合 GB/T 2260",
            "Region code in GB/T 2260",
        ),
        "expect_column_values_to_be_in_province": ("地区属于本省", "Region in the province"),
        "expect_column_values_to_be_in_service_catalog": (
            "事项在服务目录中",
            "Item in the service catalogue",
        ),
        "expect_column_values_to_be_in_set": ("取值在规定代码集中", "Value in the code list"),
        "expect_column_values_to_be_null": ("应为空的值为空", "Value empty where it must be"),
        "expect_column_values_to_be_on_working_days": ("日期为工作日", "Date on a working day"),
        "expect_column_values_to_be_valid_gb11643_resident_id": (
            "身份证号校验位正确（GB 11643）",
            "Valid resident ID (GB 11643)",
        ),
        "expect_column_values_to_be_valid_gb32100_credit_code": (
            "统一社会信用代码校验位正确（GB 32100）",
            "Valid credit code (GB 32100)",
        ),
        "expect_column_values_to_not_be_after_batch_cutoff": (
            "日期不晚于批次截止日",
            "Date not after the batch cut-off",
        ),
        "expect_column_values_to_not_be_null": ("必填值不为空", "Required value present"),
        "expect_column_values_to_not_match_regex": (
            "不含身份证号、手机号等个人信息",
            "No resident ID, phone number or other personal data",
        ),
        "expect_column_values_to_not_start_a_spreadsheet_formula": (
            "文本不以电子表格公式开头",
            "Text does not start a spreadsheet formula",
        ),
        "expect_promised_days_to_match_service_catalog": (
            "承诺时限与服务目录一致",
            "Promised days match the catalogue",
        ),
        "expect_record_versions_to_be_unique_within_batch": (
            "同一批次内记录版本不重复",
            "Record versions unique within a batch",
        ),
        "expect_table_row_count_to_be_between": ("行数在合理范围内", "Row count within range"),
        "release_exists": ("已有开放数据发布", "A release exists"),
        "release_tables_exist": ("发布包含数据表", "The release holds tables"),
        "suppression_status_column_exists": ("发布表带抑制状态列", "Tables carry a status"),
        "suppressed_counts_keep_the_protection_range": (
            "抑制单元格保持保护区间",
            "Suppressed cells keep the protection range",
        ),
        # load-quarantine reasons (subjectdb.ingest.schema.REASONS)
        "too_few_fields": ("字段数少于表头（行被截断）", "Fewer fields than the header"),
        "too_many_fields": ("字段数多于表头（未加引号的分隔符）", "More fields than the header"),
        "quote_error": ("引号不配对", "Unbalanced quote"),
        "line_too_long": ("行过长", "Line too long"),
        "field_too_long": ("字段值过长", "Value too long"),
        "nul_byte": ("含二进制空字符", "Holds a NUL byte"),
        "bad_timestamp": ("时间格式错误", "Not a timestamp"),
        "bad_date": ("日期格式错误", "Not a date"),
        "bad_integer": ("不是整数", "Not an integer"),
        "bad_decimal": ("不是有效小数", "Not a decimal"),
        "bad_identifier": ("编号格式不符合数据约定", "Identifier not in the contract's shape"),
        "undecodable_text": ("文本编码无法解码", "Undecodable text"),
    },
    "status": {
        "passed": ("通过", "passed"),
        "failed": ("未通过", "failed"),
        "warning": ("警告", "warning"),
        "not checked": ("未检查", "not checked"),
        "not_published": ("尚未发布（不适用）", "not yet published (does not apply)"),
    },
    "severity": {
        "critical": ("严重", "critical"),
        "warning": ("警告", "warning"),
        "info": ("提示", "info"),
    },
}


def dq_label(kind: str, code: object, lang: str = DEFAULT_LANG) -> str:
    """The name of a data-quality code (stage, suite, extract, rule or reason, status) in
    ``lang``; an unknown code reads as words in English, as "其他" + words in Chinese."""
    text = str(code or "")
    pair = DQ_LABELS.get(kind, {}).get(text)
    if pair is not None:
        return pair[1] if lang == "en" else pair[0]
    words = text.replace("expect_", "").replace("_", " ").strip() or "—"
    return words if lang == "en" else f"其他（{words}）"


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
