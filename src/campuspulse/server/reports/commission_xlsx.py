"""The commission report as an auditor's workbook: 说明, 使用率, 配备达标, 达标率, 配备缺口 (a school), 实验开出率
by school, grade and class, 公式 and 字段 — Chinese headers, numbers as numbers, rates as formulas over their parts."""

import re
from datetime import date, timedelta
from typing import Any

from campuspulse.server.access.principals import Scope
from campuspulse.server.audit_checkpoints import head_rows
from campuspulse.server.reports.auditor_xlsx import Book, Col, Kind, Table, write
from campuspulse.server.reports.commission import RULES, CommissionReport
from campuspulse.server.web.i18n import Text

SCOPE_NAMES = {Scope.SCHOOL: "学校", Scope.DISTRICT: "区", Scope.CITY: "全市"}
STAGE_NAMES = {
    "primary": "小学",
    "junior": "初中",
    "senior": "高中",
    "nine_year": "九年一贯制",
    "complete": "完全中学",
    "twelve_year": "十二年一贯制",
}

UTILIZATION = (
    Col("key", "代码", meaning="学校代码；学校报告中为 学校/功能室"),
    Col("name", "名称"),
    Col("devices", "设备数", Kind.INT),
    Col("devices_used", "使用过的设备数", Kind.INT, "区间内至少使用过一次"),
    Col("available_s", "可用时长", Kind.HOURS, "课表内教学时段中设备可用的时长，各设备相加"),
    Col("in_use_s", "使用时长", Kind.HOURS, "“使用中”的时长，各设备相加"),
    Col("known_s", "有数据时长", Kind.HOURS, "可用时长中设备状态已知的部分"),
    Col("approximate_s", "其中推断时长", Kind.HOURS, "有数据时长中依据迟到记录推断状态的部分"),
    Col("utilization", "使用率", Kind.RATE, "使用时长 ÷ 可用时长", parts=("in_use_s", "available_s")),
    Col("utilization_known", "有数据时段使用率", Kind.RATE, "使用时长 ÷ 有数据时长", parts=("in_use_s", "known_s")),
    Col("coverage", "数据覆盖率", Kind.RATE, "有数据时长 ÷ 可用时长", parts=("known_s", "available_s")),
    Col("sessions", "使用次数", Kind.INT, "连续“使用中”的次数"),
    Col("used_periods", "使用课时", Kind.INT, "使用达到该课时一半及以上的课时数"),
    Col("available_periods", "可用课时", Kind.INT),
)
COMPLIANCE = (
    Col("standard", "标准代码"),
    Col("version", "版本"),
    Col("school", "学校代码"),
    Col("name", "学校名称"),
    Col("district", "区"),
    Col("stage", "学段"),
    Col("items_met", "基本项目配足数", Kind.INT, "现有完好数 ≥ 要求数的基本项目"),
    Col("items", "基本项目数", Kind.INT),
    Col("r_item", "项目达标率 R_item", Kind.RATE, parts=("items_met", "items")),
    Col("units_counted", "计入数量", Kind.INT, "各基本项目 min(现有完好数, 要求数) 之和"),
    Col("units_required", "要求数量", Kind.INT, "各基本项目要求数之和"),
    Col("r_qty", "数量达标率 R_qty", Kind.RATE, parts=("units_counted", "units_required")),
    Col("value_counted", "计入金额", Kind.YUAN, "各基本项目 min(现有完好数, 要求数) × 参考单价 之和"),
    Col("value_required", "要求金额", Kind.YUAN, "各基本项目 要求数 × 参考单价 之和"),
    Col("r_val", "金额达标率 R_val", Kind.RATE, parts=("value_counted", "value_required")),
    Col("threshold", "达标线", Kind.RATE, "R_item 达到此值为达标"),
    Col("compliant", "是否达标", meaning="R_item ≥ 达标线（按分数精确比较）"),
    Col("equipment_value", "装备总值", Kind.YUAN, "完好与待修单位的原值之和；报废单位不计"),
    Col("students", "学生数", Kind.INT),
    Col("per_student_value", "生均装备值", Kind.YUAN, "装备总值 ÷ 学生数，取到分"),
    Col("reasons", "说明", meaning="某项比率无法计算的原因"),
)
RATES = (
    Col("standard", "标准代码"),
    Col("version", "版本"),
    Col("name", "标准名称"),
    Col("stage", "学段"),
    Col("threshold", "达标线", Kind.RATE),
    Col("schools", "参评学校数", Kind.INT, "该学段、有基本项目要求的学校"),
    Col("compliant", "达标学校数", Kind.INT),
    Col("compliance_rate", "配备达标率", Kind.RATE, "达标学校数 ÷ 参评学校数", parts=("compliant", "schools")),
    Col("reasons", "说明"),
)
GAPS = (
    Col("standard", "标准代码"),
    Col("code", "项目代码"),
    Col("name", "项目名称"),
    Col("unit", "单位"),
    Col("required", "要求数", Kind.INT),
    Col("have", "现有完好数", Kind.INT),
    Col("missing", "缺少数", Kind.INT, summed=True),
    Col("reference_price", "参考单价", Kind.YUAN),
    Col("missing_value", "缺口金额", Kind.YUAN, "缺少数 × 参考单价", summed=True),
)
_OFFERED = (
    Col("required", "应开实验数", Kind.INT, "各班应开必做实验之和（班·实验）"),
    Col("done", "已开实验数", Kind.INT, "其中已有开出记录的"),
    Col("rate", "实验开出率", Kind.RATE, "已开实验数 ÷ 应开实验数", parts=("done", "required")),
)
OFFERING_BY_SCHOOL = (Col("type", "类型"), Col("school", "学校代码"), Col("school_name", "学校名称"), *_OFFERED)
OFFERING_BY_GRADE = (Col("type", "类型"), Col("grade", "年级", Kind.INT), *_OFFERED)
OFFERING_BY_CLASS = (Col("type", "类型"), Col("class", "班级"), *_OFFERED)

_REASONS = (
    (re.compile(r"^the standard has no 基本 item$"), "标准没有基本项目"),
    (re.compile(r"^the standard requires no unit of its 基本 items of this school$"), "标准对本校基本项目没有数量要求"),
    (re.compile(r"^reference prices missing for (\d+) 基本 item\(s\): (.*)$"), r"\1 个基本项目缺参考单价：\2"),
    (re.compile(r"^the school has no students$"), "学生数为 0"),
    (re.compile(r"^no school of 学段 (\S+) with 基本 items in scope$"), r"范围内没有学段 \1 且有基本项目要求的学校"),
)


def reason_zh(reason: str | None) -> str:
    """A figure's reason for having no value, in Chinese (as given when it is not a known one)."""
    if not reason:
        return ""
    for pattern, text in _REASONS:
        if pattern.match(reason):
            return pattern.sub(text, reason)
    return reason


def _joined(*reasons: str | None) -> str:
    return "；".join(dict.fromkeys(reason_zh(r) for r in reasons if r))


def workbook(r: CommissionReport) -> bytes:
    """The report as XLSX."""
    return write(commission_book(r))


def commission_book(r: CommissionReport) -> Book:
    """The tables, the 说明 rows and the 公式 text of a commission report."""
    tables = [_utilization(r), _compliance(r), _rates(r)]
    if r.scope is Scope.SCHOOL:
        gaps = [{"standard": c["standard"]["code"], **g} for c in r.standards for g in c.get("gaps") or []]
        tables.append(Table("配备缺口", GAPS, gaps, sum_label=("name", "合计"), note="本校未配足的基本项目"))
    tables.extend(_offering(r))
    return Book(_about(r), tables, [("公式", _formulas())])


def _about(r: CommissionReport) -> list[tuple[str, Any, str]]:
    last = date.fromisoformat(r.end) - timedelta(days=1)
    standards = [
        f"{c['standard']['code']} {c['standard']['version']} {c['standard']['name']}"
        + ("（示例标准）" if c["standard"]["sample"] else "")
        for c in r.standards
    ]
    rows: list[tuple[str, Any, str]] = [
        ("报告", "教学装备综合报告（使用率、配备达标率、实验开出率）", "report"),
        ("范围", SCOPE_NAMES.get(r.scope, r.scope.value), "scope"),
        ("代码", r.ident, "id"),
        ("名称", r.name or SCOPE_NAMES.get(r.scope, ""), "name"),
        ("起始日期", date.fromisoformat(r.first), "from"),
        ("截止日期（含）", last, "until"),
        ("学期", r.term, "term"),
        ("数据覆盖率", r.total.get("coverage"), "coverage"),
        ("适用标准", "；".join(standards) or "无", "standards"),
        *((f"规则版本：{k}", v, f"rules:{k}") for k, v in RULES.items()),
        ("生成时间（UTC）", r.generated, "generated"),
    ]
    if r.audit_head:
        rows.extend((label, value, "audit") for label, value in head_rows(*r.audit_head))
    return rows


def _utilization(r: CommissionReport) -> Table:
    rows = [{**row, "name": r.names.get(row["key"], "")} for row in r.utilization_rows]
    total = {**r.total, "key": r.ident or "city", "name": "合计"} if r.total else None
    return Table("使用率", UTILIZATION, rows, total=[total] if total else [], note="区间内各学校（或功能室）的使用情况")


def _compliance(r: CommissionReport) -> Table:
    rows = [
        {
            **row,
            "standard": c["standard"]["code"],
            "version": c["standard"]["version"],
            "stage": STAGE_NAMES.get(row["stage"], row["stage"]),
            "district": r.names.get(f"region:{row['district']}", row["district"]),
            "threshold": c["standard"]["threshold"],
            "compliant": None if row["compliant"] is None else ("是" if row["compliant"] else "否"),
            "reasons": _joined(row["r_item_reason"], row["r_qty_reason"], row["r_val_reason"]),
        }
        for c in r.standards
        for row in c["schools"]
        if row["applies"]
    ]
    return Table("配备达标", COMPLIANCE, rows, note="各学校对照其学段适用的标准")


def _rates(r: CommissionReport) -> Table:
    rows = [
        {
            **c["summary"],
            "standard": c["standard"]["code"],
            "version": c["standard"]["version"],
            "name": c["standard"]["name"],
            "stage": STAGE_NAMES.get(c["standard"]["stage"], c["standard"]["stage"]),
            "threshold": c["standard"]["threshold"],
            "reasons": _joined(c["summary"]["compliance_rate_reason"]),
        }
        for c in r.standards
    ]
    return Table("达标率", RATES, rows, note="各标准的学校达标率")


def _offering(r: CommissionReport) -> list[Table]:
    o = r.offering
    schools = [{**row, "school_name": r.names.get(row["school"], "")} for row in o["by_school"]]
    totals = [{**row, "school": "合计"} for row in o["by_type"]]
    tables = [
        Table("实验开出率", OFFERING_BY_SCHOOL, schools, total=totals, note=f"{r.term} 学期，按学校"),
        Table("实验开出率_年级", OFFERING_BY_GRADE, o["by_grade"], total=[{**t, "grade": None} for t in totals]),
    ]
    if o.get("by_class") is not None:
        tables.append(Table("实验开出率_班级", OFFERING_BY_CLASS, o["by_class"], total=totals))
    return tables


def formula_lines(t: Text) -> list[tuple[str, str]]:
    """Each headline figure and how it is computed, in `t`'s language."""
    return [
        (t("utilization"), t("explain_utilization")),
        (t("coverage"), t("explain_coverage")),
        (t("used_periods"), t("explain_used_periods")),
        ("R_item · R_qty · R_val", t("explain_compliance_parts")),
        (t("compliance_rate"), t("explain_compliance_rate")),
        (t("offering_rate"), t("explain_offering_rate") + " " + t("explain_offering_types")),
    ]


def _formulas() -> list[tuple[str, str]]:
    return [
        *formula_lines(Text("zh")),
        (
            "表中公式",
            "各比率单元格是对同一行分子、分母的 Excel 公式 =ROUND(分子/分母,6)，显示为百分比，与系统接口的数值一致。",
        ),
    ]
