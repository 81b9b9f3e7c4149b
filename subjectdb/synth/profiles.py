"""Demographic and behavioural parameters of the raw-extract generator.

Every number that shapes the generated data lives here, with its source or rationale, so the
realism model documented in ``docs/extract-contract.md`` can be checked against one file.
"""

from __future__ import annotations

import math

import numpy as np

# --- Population -----------------------------------------------------------------------------
# 7th national census (1 Nov 2020), NBS communiqué no. 5: 0-14 17.95 %, 15-59 63.35 %,
# 60+ 18.70 %, 65+ 13.50 %. The split into 5-year bands follows the census tabulation
# (approximate), rescaled so that the four published aggregates hold exactly.
# fmt: off
_BANDS_RAW: list[tuple[int, float]] = [
    (0, 5.52), (5, 6.39), (10, 6.04),  # 0-14: 17.95
    (15, 5.15), (20, 5.31), (25, 6.51), (30, 8.79), (35, 7.01),
    (40, 6.59), (45, 8.09), (50, 8.58), (55, 7.18),  # 15-59: 63.21 -> 63.35
    (60, 5.20),  # 60-64
    (65, 5.24), (70, 3.51), (75, 2.21), (80, 1.44), (85, 0.75), (90, 0.25), (95, 0.06),
]
# fmt: on
CENSUS_AGGREGATES = {"00-14": 17.95, "15-59": 63.35, "60+": 18.70, "65+": 13.50}


def census_band_shares() -> tuple[np.ndarray, np.ndarray]:
    """(band start ages, shares summing to 1) calibrated to the census aggregates."""
    starts = np.array([a for a, _ in _BANDS_RAW])
    raw = np.array([s for _, s in _BANDS_RAW], dtype=float)
    out = raw.copy()
    groups = [
        (starts < 15, 17.95),
        ((starts >= 15) & (starts < 60), 63.35),
        (starts == 60, 18.70 - 13.50),
        (starts >= 65, 13.50),
    ]
    for mask, target in groups:
        out[mask] = raw[mask] / raw[mask].sum() * target
    return starts, out / out.sum()


MALE_SHARE_BY_AGE = ((0, 0.515), (60, 0.495), (80, 0.43))  # census sex ratio 105.07
BIRTH_RATE = 0.0065  # births per resident per year (Zhejiang 2023: about 5.8-6.3 ‰)
IN_MIGRATION_RATE = 0.012  # arrivals from other provinces per resident per year
OUT_MIGRATION_RATE = 0.010  # departures from the province per resident per year
INTERNAL_MOVE_RATE = 0.025  # moves between counties of the province per resident per year
HUKOU_SAME_SHARE = 0.82  # household registration in the county of residence
HUKOU_OTHER_PROVINCE = 0.08  # registered in another province (migrant workers)
URBAN_DENSITY = 2.6  # persons per urban district relative to a rural county
URBAN_ENTERPRISE_DENSITY = 4.0
NON_REGISTER_APPLICANTS = 0.02  # natural-person cases by people not in the population register


def annual_mortality(age: np.ndarray) -> np.ndarray:
    """Gompertz mortality, about 1 ‰ at 40, 4 % at 80 (China life tables, rounded)."""
    return np.minimum(np.exp(-10.4 + 0.088 * age), 0.5)


# Surname frequencies (share in %, Ministry of Public Security household register ranking).
# fmt: off
SURNAMES: list[tuple[str, float]] = [
    ("王", 7.12), ("李", 7.00), ("张", 6.66), ("刘", 5.38), ("陈", 4.61), ("杨", 3.10),
    ("黄", 2.42), ("赵", 2.29), ("吴", 2.03), ("周", 1.92), ("徐", 1.54), ("孙", 1.51),
    ("马", 1.44), ("朱", 1.34), ("胡", 1.31), ("郭", 1.19), ("何", 1.18), ("林", 1.15),
    ("高", 1.13), ("罗", 1.06), ("郑", 0.97), ("梁", 0.88), ("谢", 0.80), ("宋", 0.71),
    ("唐", 0.70), ("许", 0.69), ("韩", 0.64), ("冯", 0.63), ("邓", 0.62), ("曹", 0.60),
    ("彭", 0.59), ("曾", 0.55), ("肖", 0.54), ("田", 0.52), ("董", 0.51), ("袁", 0.50),
    ("潘", 0.49), ("于", 0.48), ("蒋", 0.48), ("蔡", 0.47), ("余", 0.47), ("杜", 0.46),
    ("叶", 0.45), ("程", 0.44), ("苏", 0.42), ("魏", 0.41), ("吕", 0.41), ("丁", 0.40),
    ("任", 0.39), ("沈", 0.38), ("姚", 0.37), ("卢", 0.37), ("姜", 0.36), ("崔", 0.35),
    ("钟", 0.34), ("谭", 0.33), ("陆", 0.33), ("汪", 0.32), ("范", 0.32), ("金", 0.31),
    ("石", 0.30), ("廖", 0.29), ("贾", 0.29), ("夏", 0.28), ("韦", 0.28), ("付", 0.27),
    ("方", 0.27), ("白", 0.26), ("邹", 0.26), ("孟", 0.25), ("熊", 0.25), ("秦", 0.24),
    ("邱", 0.24), ("江", 0.23), ("尹", 0.23), ("薛", 0.22), ("闫", 0.22), ("段", 0.21),
    ("雷", 0.21), ("侯", 0.20), ("龙", 0.20), ("史", 0.20), ("陶", 0.19), ("黎", 0.19),
    ("贺", 0.19), ("顾", 0.18), ("毛", 0.18), ("郝", 0.18), ("龚", 0.17), ("邵", 0.17),
    ("万", 0.16), ("钱", 0.16), ("严", 0.16), ("覃", 0.15), ("武", 0.15), ("戴", 0.15),
    ("莫", 0.14), ("孔", 0.14), ("向", 0.14), ("汤", 0.14), ("欧阳", 0.05), ("诸葛", 0.01),
]
# fmt: on
GIVEN_MALE = list(
    "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林"
    "洋阳峰建国文志博晨昊然轩睿泽子一诚毅坤海东亮成锋"
)
GIVEN_FEMALE = list(
    "芳娜敏静丽艳娟霞燕玲婷雪慧红琳颖洁倩佳梅萍莉欣怡璐雨涵诗"
    "琪瑶梦晶月彤悦思可馨嘉丹蕾薇凤秀英兰桂春"
)
TWO_CHAR_GIVEN_SHARE = 0.78

# Mobile prefixes (1[3-9]x): second digit weights of the three carriers' number ranges.
PHONE_SECOND_DIGIT = {3: 0.30, 5: 0.25, 7: 0.08, 8: 0.30, 9: 0.07}
PHONE_MIN_AGE = 16
NO_PHONE_ADULT_SHARE = 0.04

# --- Life-event themes: share of natural-person cases and age profile ------------------------
# profile(age, male) -> relative demand per person-year. Unknown theme codes get DEFAULT.


def _bump(age: np.ndarray, mean: float, sd: float) -> np.ndarray:
    return np.exp(-0.5 * ((age - mean) / sd) ** 2)


def _profile_birth(a: np.ndarray, male: np.ndarray) -> np.ndarray:
    return np.where((a >= 20) & (a <= 45), _bump(a, 30, 4.5), 0.0)  # parents 20-39


def _profile_education(a: np.ndarray, male: np.ndarray) -> np.ndarray:
    parents = np.where((a >= 26) & (a <= 55), _bump(a, 39, 5.5), 0.0)  # parents of pupils
    students = 0.25 * np.where((a >= 15) & (a <= 24), 1.0, 0.0)  # exams, student aid
    return parents + students


def _profile_marriage(a: np.ndarray, male: np.ndarray) -> np.ndarray:
    return np.where((a >= 20) & (a <= 65), _bump(a, 28, 3.5) + 0.04, 0.0)


def _profile_pension(a: np.ndarray, male: np.ndarray) -> np.ndarray:
    retire = np.where(male, 60, 55)  # statutory retirement ages (women 50/55, men 60)
    start = np.where((a >= retire) & (a < retire + 2), 1.0, 0.0)  # retirement claims
    yearly = np.where(a >= retire, 0.35, 0.0)  # annual certification
    contrib = np.where((a >= 25) & (a < retire), 0.06, 0.0)  # contribution records
    return start + yearly + contrib


def _profile_death(a: np.ndarray, male: np.ndarray) -> np.ndarray:
    return np.where(a >= 25, _bump(a, 55, 11), 0.0)  # relatives register a death


def _profile_employment(a: np.ndarray, male: np.ndarray) -> np.ndarray:
    return np.where((a >= 16) & (a <= 64), _bump(a, 31, 10), 0.0)


def _profile_housing(a: np.ndarray, male: np.ndarray) -> np.ndarray:
    return np.where((a >= 20) & (a <= 80), _bump(a, 40, 12), 0.0)


def _profile_medical(a: np.ndarray, male: np.ndarray) -> np.ndarray:
    return 0.15 + 0.02 * np.maximum(a - 18, 0) * (a >= 18)


def _profile_household(a: np.ndarray, male: np.ndarray) -> np.ndarray:
    id_card = np.where((a >= 16) & (a <= 17), 1.2, 0.0)  # first ID card at 16
    adult = np.where(a >= 18, 0.45 + 0.3 * _bump(a, 30, 8), 0.0)  # moves, renewals
    return id_card + adult + 0.05


def _profile_travel(a: np.ndarray, male: np.ndarray) -> np.ndarray:
    return np.where((a >= 18) & (a <= 75), _bump(a, 36, 13), 0.0)  # driving licences


def _profile_social_assistance(a: np.ndarray, male: np.ndarray) -> np.ndarray:
    return np.where(a >= 18, 0.2 + 0.02 * np.maximum(a - 50, 0), 0.0)


def _profile_disability(a: np.ndarray, male: np.ndarray) -> np.ndarray:
    return np.where(a >= 16, 0.1 + 0.03 * np.maximum(a - 45, 0), 0.0)


def _profile_default(a: np.ndarray, male: np.ndarray) -> np.ndarray:
    return np.where((a >= 18) & (a <= 75), 1.0, 0.0)


PERSON_THEMES = {
    # code: (share of natural-person cases, age profile)
    "birth": (0.05, _profile_birth),
    "education": (0.09, _profile_education),
    "employment": (0.09, _profile_employment),
    "marriage": (0.04, _profile_marriage),
    "housing": (0.12, _profile_housing),
    "medical": (0.14, _profile_medical),
    "pension": (0.10, _profile_pension),
    "household": (0.12, _profile_household),
    "travel": (0.13, _profile_travel),
    "social_assistance": (0.04, _profile_social_assistance),
    "disability": (0.02, _profile_disability),
    "death": (0.03, _profile_death),
}
DEFAULT_PERSON_THEME = (0.04, _profile_default)

ENTERPRISE_THEMES = {
    # code: (share of legal-person cases, industry sections in higher demand)
    "startup": (0.10, {}),
    "change": (0.20, {}),
    "licence": (0.25, {"H": 3.0, "F": 1.8, "Q": 2.5, "R": 2.0, "G": 1.8, "C": 1.5}),
    "construction": (0.08, {"E": 8.0, "K": 5.0, "N": 2.0}),
    "tax": (0.15, {}),
    "labour": (0.15, {"C": 2.0, "E": 1.8, "H": 1.5}),
    "closure": (0.07, {}),
}
DEFAULT_ENTERPRISE_THEME = (0.05, {})
SIZE_DEMAND = {"大型": 12.0, "中型": 5.0, "小型": 2.0, "微型": 1.0}
PERSON_CASE_SHARE_DEFAULT = 0.8  # when the catalog has items for both applicant types

# --- Seasonality ------------------------------------------------------------------------------
MONTH_FACTOR = np.array([0.95, 0.85, 1.05, 1.00, 0.98, 1.02, 1.00, 0.98, 1.00, 0.94, 1.03, 1.18])
THEME_MONTH_FACTOR = {
    # school enrolment July-September; a smaller spring-term peak in March
    "education": np.array([0.5, 0.4, 1.2, 0.6, 0.6, 0.9, 3.0, 3.6, 2.6, 0.5, 0.5, 0.5]),
    # annual enterprise reports and tax settlement in the first half
    "tax": np.array([1.2, 1.1, 1.3, 1.2, 1.3, 1.4, 0.8, 0.8, 0.8, 0.8, 0.8, 0.9]),
    # weddings cluster around National Day and the Qixi/May Day holidays
    "marriage": np.array([1.1, 1.1, 0.9, 0.9, 1.2, 0.8, 0.8, 1.2, 1.0, 1.3, 0.8, 0.9]),
}
OFFLINE_NONWORKDAY = 0.04  # service halls mostly closed on rest days and holidays
ONLINE_NONWORKDAY = 0.45
SPRING_FESTIVAL_ONLINE = 0.35  # extra dip for online demand during the Spring Festival holiday
YEARLY_GROWTH = 0.05
OFFLINE_HOURS = np.array(
    [0, 0, 0, 0, 0, 0, 0, 0, 0.3, 1.6, 1.8, 1.3, 0.2, 0.5, 1.5, 1.6, 1.4, 0.4, 0, 0, 0, 0, 0, 0],
    dtype=float,
)
# fmt: off
ONLINE_HOURS = np.array([
    0.2, 0.1, 0.05, 0.03, 0.03, 0.05, 0.2, 0.5, 1, 1.4, 1.5, 1.3,
    1, 1, 1.2, 1.3, 1.2, 1, 0.9, 1.1, 1.3, 1.2, 0.9, 0.5,
], dtype=float)
# fmt: on

# --- Channels -------------------------------------------------------------------------------
# Online share: logistic in age, lower in rural counties, rising over time.
ONLINE_INTERCEPT = 2.2  # logit at age 20, urban
ONLINE_AGE_SLOPE = -0.055  # per year of age
ONLINE_RURAL = -0.7
ONLINE_YEARLY = 0.15
APP_INTERCEPT = 1.0  # logit of app vs web at age 30
APP_AGE_SLOPE = -0.045
OFFLINE_SPLIT = {"window": 0.86, "kiosk": 0.09, "post": 0.05}
ENTERPRISE_ONLINE_INTERCEPT = 1.6
ENTERPRISE_MICRO_ONLINE = -0.4


def logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# --- Processing -----------------------------------------------------------------------------
WITHDRAWN_SHARE = 0.015
NOT_ACCEPTED_SHARE = 0.025
DENIED_SHARE = 0.04
DURATION_MEDIAN_RATIO = 0.45  # median working days / promised days
DURATION_SIGMA = 0.7  # log-normal spread
LONG_TAIL_SHARE = 0.03  # cases that stall (missing documents...): x3 duration
RATED_SHARE_ONLINE = 0.45
RATED_SHARE_OFFLINE = 0.30
RATING_BASE = 4.65  # latent satisfaction when on time
RATING_DELAY_PENALTY = 1.6  # per promised-period of delay
RATING_NOISE = 0.75
ELICENCE_ONLINE = 0.55
ELICENCE_OFFLINE = 0.30
EXTRA_VISIT_PER_10_DAYS = 0.25

# --- Enterprises ----------------------------------------------------------------------------
# fmt: off
INDUSTRY_SHARES = {
    "A": 2.0, "B": 0.1, "C": 14.0, "D": 0.4, "E": 5.0, "F": 32.0, "G": 3.0, "H": 4.0,
    "I": 6.0, "J": 1.0, "K": 3.0, "L": 12.0, "M": 7.0, "N": 0.5, "O": 5.0, "P": 1.0,
    "Q": 0.6, "R": 2.0, "S": 0.3, "T": 0.01,
}
# fmt: on
LEGAL_FORM_SHARES = {
    "有限责任公司": 0.62,
    "股份有限公司": 0.015,
    "个人独资企业": 0.04,
    "合伙企业": 0.03,
    "农民专业合作社": 0.0,
    "个体工商户": 0.28,
    "外商投资企业": 0.015,
}
COOPERATIVE_SHARE_IN_A = 0.4
SIZE_BY_FORM = {
    "个体工商户": {"微型": 0.97, "小型": 0.03, "中型": 0.0, "大型": 0.0},
    "股份有限公司": {"微型": 0.05, "小型": 0.35, "中型": 0.40, "大型": 0.20},
    "外商投资企业": {"微型": 0.15, "小型": 0.45, "中型": 0.30, "大型": 0.10},
    "*": {"微型": 0.72, "小型": 0.22, "中型": 0.05, "大型": 0.01},
}
CAPITAL_MEDIAN = {"微型": 10.0, "小型": 200.0, "中型": 2000.0, "大型": 20000.0}  # 万元
ENTERPRISE_OPENING_RATE = 0.10  # new registrations per enterprise per year
ENTERPRISE_CLOSURE_RATE = 0.04  # closures per active enterprise per year
ENTERPRISE_CLOSED_BEFORE = 0.08  # register rows of enterprises closed before the period
REVOKED_SHARE = 0.2  # closures that are revocations (吊销) rather than 注销
ENTERPRISE_MEAN_AGE_YEARS = 8.0
CREDIT_AUTHORITY = {"个体工商户": "92", "农民专业合作社": "93", "*": "91"}

TRADE_NAME_CHARS = list(
    "鑫达华盛恒利源信德泰丰宏兴隆嘉瑞博创新科汇元金联通天佳诚安美宇正中海永成昌顺和远"
)
INDUSTRY_WORDS = {
    "A": ["农业开发", "生态农业", "家庭农场"],
    "B": ["矿业"],
    "C": ["机械制造", "纺织", "电子"],
    "D": ["能源", "热力"],
    "E": ["建设工程", "建筑"],
    "F": ["贸易", "商贸", "电子商务"],
    "G": ["物流", "运输"],
    "H": ["餐饮管理", "酒店管理"],
    "I": ["网络科技", "软件", "信息技术"],
    "J": ["投资管理"],
    "K": ["房地产开发", "物业管理"],
    "L": ["企业管理咨询", "商务服务"],
    "M": ["科技", "检测技术"],
    "N": ["环境工程", "园林绿化"],
    "O": ["家政服务", "汽车维修"],
    "P": ["教育科技", "培训"],
    "Q": ["健康管理", "医疗管理"],
    "R": ["文化传媒", "体育发展"],
    "S": ["社会服务"],
    "T": ["国际合作"],
}
SHOP_WORDS = ["小吃店", "便利店", "理发店", "五金店", "汽车维修部", "服装店", "水果店", "超市"]
FORM_SUFFIX = {
    "有限责任公司": "有限公司",
    "股份有限公司": "股份有限公司",
    "个人独资企业": "经营部",
    "合伙企业": "（有限合伙）",
    "农民专业合作社": "专业合作社",
    "外商投资企业": "有限公司",
}


def theme_month_factor(theme: str) -> np.ndarray:
    return THEME_MONTH_FACTOR.get(theme, np.ones(12))


def safe_log(x: float) -> float:
    return math.log(max(x, 1e-12))
