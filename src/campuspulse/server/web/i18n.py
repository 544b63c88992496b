"""Page text in Chinese (the default) and English, chosen with `?lang=` and remembered in a cookie."""

from fastapi import Request

LANGS = ("zh", "en")
TEXT: dict[str, tuple[str, str]] = {
    "app": ("校园装备监测", "campuspulse"),
    "login": ("登录", "Log in"),
    "logout": ("退出", "Log out"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "bad_login": ("用户名或密码错误", "Wrong username or password"),
    "too_many": ("尝试次数过多，请稍后再试", "Too many attempts, try again later"),
    "expired": ("登录已过期，请重新登录", "Your session has ended; please log in again"),
    "forbidden": ("无权查看", "Not allowed"),
    "not_found": ("未找到", "Not found"),
    "bad_input": ("输入有误", "Check the input"),
    "city": ("全市", "City"),
    "district": ("区", "District"),
    "school": ("学校", "School"),
    "room": ("功能室", "Room"),
    "device": ("设备", "Device"),
    "period": ("统计区间", "Period"),
    "from": ("从", "From"),
    "to": ("至（不含）", "To (exclusive)"),
    "until": ("至（含）", "To (inclusive)"),
    "search": ("搜索", "Search"),
    "how_computed": ("这些数字怎么算", "How these figures are computed"),
    "explain_utilization": (
        "使用率 = 各设备“使用中”时长之和 ÷ 各设备可用时长（课表内教学时段）之和；先累加秒数再相除。",
        "Utilization = seconds in use summed over the devices ÷ their available (timetabled teaching) seconds.",
    ),
    "explain_coverage": (
        "数据覆盖率 = 有数据的时长 ÷ 可用时长；低于 100% 表示部分时段设备无数据（离线或未上报）。",
        "Coverage = seconds with data ÷ available seconds; below 100% some teaching time has no data.",
    ),
    "explain_devices_used": (
        "已使用设备 = 区间内至少使用过一次的设备数 / 设备总数。",
        "Devices used at least once / all devices.",
    ),
    "explain_sessions": ("使用次数 = 连续“使用中”的次数（相接的记录算一次）。", "Sessions = runs of in-use time."),
    "explain_used_periods": (
        "使用课时 = 使用时长达到该课时一半及以上的课时数 / 可用课时数。",
        "Periods used = periods in use for at least half their length / periods available.",
    ),
    "explain_compliance_rate": (
        "配备达标率 = 达标的学校数 ÷ 适用该标准（同学段）的学校数；学校达标指基本配备项目全部配足（R_item ≥ 阈值）。",
        "Compliance rate = schools 达标 ÷ schools the standard applies to; 达标: R_item ≥ the threshold.",
    ),
    "explain_offering_rate": (
        "实验开出率 = 各班已开出的必做实验数之和 ÷ 各班应开必做实验数之和（按本学期目录与教材版本）。",
        "Offering rate = required class–experiment pairs done ÷ required pairs, this term, by catalog and edition.",
    ),
    "export_csv": ("导出 CSV", "Export CSV"),
    "previous": ("‹ 上一段", "‹ Previous"),
    "next": ("下一段 ›", "Next ›"),
    "this_week": ("本周", "This week"),
    "this_month": ("本月", "This month"),
    "this_term": ("本学期", "This term"),
    "last_term": ("上学期", "Last term"),
    "period_dates": ("起止日期应为 2026-09-01 这样的日期", "From and to are dates like 2026-09-01"),
    "period_range": (
        "开始日期须不晚于结束日期，且区间不超过 {days} 天",
        "The start must not come after the end, and the period is at most {days} days",
    ),
    "show": ("查看", "Show"),
    "utilization": ("使用率", "Utilization"),
    "coverage": ("数据覆盖率", "Coverage"),
    "devices_used": ("已使用设备", "Devices used"),
    "sessions": ("使用次数", "Sessions"),
    "used_periods": ("使用课时", "Periods used"),
    "compliance_rate": ("配备达标率", "Compliance rate"),
    "offering_rate": ("实验开出率", "Experiment offering rate"),
    "ranking": ("排名", "Ranking"),
    "by_district": ("各区", "By district"),
    "by_school": ("各校", "By school"),
    "rooms_heatmap": ("功能室 × 星期 使用率", "Rooms × weekday utilization"),
    "weekdays": ("一,二,三,四,五,六,日", "Mon,Tue,Wed,Thu,Fri,Sat,Sun"),
    "idle": ("闲置设备", "Idle equipment"),
    "idle_note": ("最近 {n} 个教学日未使用", "not used on the last {n} teaching days"),
    "last_used": ("最近使用", "Last used"),
    "never": ("从未", "never"),
    "gaps": ("配备缺口", "Compliance gaps"),
    "item": ("项目", "Item"),
    "required": ("应配", "Required"),
    "have": ("实有", "Have"),
    "missing": ("缺少", "Missing"),
    "missing_value": ("缺口金额（元）", "Missing value (yuan)"),
    "gap_total": ("补齐所需合计（元）", "To buy in all (yuan)"),
    "compliant": ("达标", "Compliant"),
    "not_compliant": ("未达标", "Not compliant"),
    "no_gaps": ("无缺口", "No gaps"),
    "offering": ("实验开出", "Experiment offering"),
    "grade": ("年级", "Grade"),
    "class": ("班级", "Class"),
    "type": ("类型", "Type"),
    "done": ("已开", "Done"),
    "devices": ("设备", "Devices"),
    "kind": ("类型", "Kind"),
    "agent": ("采集端", "Agent"),
    "online": ("在线", "online"),
    "offline": ("离线", "offline"),
    "last_seen": ("最近上报", "Last seen"),
    "pending": ("待处理记录", "Records waiting"),
    "queued": ("采集端待发记录", "Queued at the agent"),
    "queue_oldest": ("最早一条：", "oldest:"),
    "disk_unwritable": ("磁盘不可写", "disk full"),
    "unwritable_since": ("开始于", "since"),
    "held_in_memory": ("内存暂存记录：", "held in memory:"),
    "seq_gaps": ("序号缺口", "Seq gaps"),
    "timeline": ("状态时间线", "State timeline"),
    "day": ("日", "Day"),
    "week": ("周", "Week"),
    "in_use": ("使用中", "in use"),
    "idle_state": ("空闲", "idle"),
    "off": ("关机", "off"),
    "fault": ("故障", "fault"),
    "unknown": ("无数据", "unknown"),
    "approximate": ("推测", "inferred"),
    "approximate_time": ("其中推测时长", "of which inferred"),
    "approximate_note": (
        "斜纹部分的状态由迟到记录推测得出，并非逐条记录所示；其时长计入“推测时长”（approximate_s）。",
        "Hatched time: its state was inferred around records that arrived after the reorder window, not recorded "
        "directly; it is counted as approximate_s.",
    ),
    "standard": ("标准", "Standard"),
    "sample_standard": ("示例标准", "sample standard"),
    "term": ("学期", "Term"),
    "rules": ("计算规则", "Rules"),
    "live": ("实时更新", "Live"),
    "none": ("无", "none"),
    "health": ("采集端状态", "Agent health"),
    "back": ("返回", "Back"),
    "language": ("English", "中文"),
    "report": ("报告", "Report"),
    "readings_off": ("未配置时序库（server.readings_url），不显示读数", "No readings: server.readings_url is not set"),
    "readings_none": ("此时段无读数", "No readings in this period"),
    "reading_max": ("读数 {field}，最大 {value}", "Reading {field}, max {value}"),
    "report_title": ("教学装备监测报告", "Equipment monitoring report"),
    "download_xlsx": ("下载 Excel（XLSX）", "Download XLSX"),
    "to_exclusive": ("不含结束日", "end date excluded"),
    "generated": ("生成时间", "Generated"),
    "formulas": ("计算公式", "Formulas"),
    "print_report": ("可打印报告", "Printable report"),
    "users": ("用户管理", "Users"),
    "account": ("我的账户", "My account"),
    "role": ("角色", "Role"),
    "scope": ("范围", "Scope"),
    "scope_id": ("范围代码", "Scope code"),
    "state": ("状态", "State"),
    "enabled": ("启用", "enabled"),
    "disabled": ("已停用", "disabled"),
    "machine_user": ("仅 API 令牌", "API tokens only"),
    "actions": ("操作", "Actions"),
    "new_user": ("新建用户", "New user"),
    "create": ("创建", "Create"),
    "save": ("保存", "Save"),
    "disable": ("停用", "Disable"),
    "enable": ("启用", "Enable"),
    "delete": ("删除", "Delete"),
    "reset_password": ("重置密码", "Reset password"),
    "change_role": ("更改角色/范围", "Change role or scope"),
    "new_password": ("新密码（至少 10 位）", "New password (10 characters or more)"),
    "password_again": ("再次输入新密码", "New password again"),
    "current_password": ("当前密码", "Current password"),
    "change_password": ("修改密码", "Change password"),
    "confirm_delete": ("确定删除该用户？其 API 令牌将被吊销。", "Delete this user? Their API tokens are revoked."),
    "sessions_end_note": (
        "更改角色、范围、密码或停用用户后，该用户的所有登录会话立即失效；所有操作均记入审计日志。",
        "A change of role, scope or password, or disabling, ends every session of that user at once; every change "
        "is written to the audit log.",
    ),
    "role_admin": ("管理员", "admin"),
    "role_district_manager": ("区级管理员", "district manager"),
    "role_school_manager": ("学校管理员", "school manager"),
    "role_auditor": ("审计员（只读）", "auditor (read-only)"),
    "kind_all": ("全部", "all"),
    "kind_region": ("区域", "region"),
    "kind_school": ("学校", "school"),
    "form_expired": ("表单已过期，请刷新页面后重试", "The form has expired; reload the page and try again"),
    "password_length": ("新密码需 10 至 200 个字符", "The new password needs 10 to 200 characters"),
    "password_mismatch": ("两次输入的新密码不一致", "The two new passwords differ"),
    "role_scope_mismatch": (
        "角色与范围不匹配：管理员为全部；区级管理员为区域；学校管理员为学校；审计员可为任一范围（区域和学校需填代码）",
        "Role and scope do not fit: an admin is over all, a district manager over a region, a school manager over "
        "a school, an auditor over any (a region or school needs its code)",
    ),
    "username_form": (
        "用户名只能包含字母、数字、- 和 _（至多 64 个）",
        "A username has letters, digits, - and _ only (64 at most)",
    ),
    "user_exists": ("该用户名已存在", "That username is taken"),
    "not_yourself": ("不能更改、停用或删除自己的账户", "You may not change, disable or delete your own user"),
    "bad_action": ("未知操作", "Unknown action"),
    "no_such_user": ("该用户不存在", "No such user"),
    "admins_only": ("仅管理员可管理用户", "Only an admin manages users"),
    "current_password_wrong": ("当前密码错误", "The current password is wrong"),
    "done_created": ("已创建用户", "User created"),
    "done_role": ("已更改角色/范围，该用户需重新登录", "Role or scope changed; the user logs in again"),
    "done_password": ("已重置密码，该用户需重新登录", "Password reset; the user logs in again"),
    "done_disable": ("已停用用户，其会话与令牌立即失效", "User disabled; their sessions and tokens are refused"),
    "done_enable": ("已启用用户", "User enabled"),
    "done_delete": ("已删除用户，其 API 令牌已吊销", "User deleted; their API tokens are revoked"),
    "alerts": ("告警", "Alerts"),
    "alert": ("告警内容", "Alert"),
    "alerts_unresolved": ("未解决", "Unresolved"),
    "alerts_resolved": ("已恢复", "Resolved"),
    "no_alerts": ("没有告警", "No alerts"),
    "severity": ("级别", "Severity"),
    "severity_critical": ("严重", "critical"),
    "severity_warning": ("警告", "warning"),
    "severity_info": ("提示", "info"),
    "opened": ("开始时间", "Opened"),
    "alert_open": ("待处理", "open"),
    "alert_acknowledged": ("已确认", "acknowledged"),
    "alert_resolved": ("已恢复", "resolved"),
    "acknowledge": ("确认", "Acknowledge"),
    "hides": ("其下设备", "devices behind it"),
    "flaps": ("期间反复 {n} 次", "came back {n} times"),
    "alert_not_yours": ("无权确认该告警（审计员只读）", "Not yours to acknowledge (auditors read only)"),
    "done_own_password": ("密码已修改，其他设备上的登录已退出", "Password changed; your other sessions have ended"),
}
KIND_NAMES: dict[str, tuple[str, str]] = {  # device kinds the sample campus and common deployments use
    "projector": ("投影仪", "projector"),
    "smart-board": ("交互式电子白板", "interactive whiteboard"),
    "smart_board": ("交互式电子白板", "interactive whiteboard"),
    "oscilloscope": ("示波器", "oscilloscope"),
    "lab-pc": ("实验室电脑", "lab PC"),
    "lab_pc": ("实验室电脑", "lab PC"),
    "pc": ("电脑", "PC"),
    "balance": ("电子天平", "balance"),
    "microscope-camera": ("显微摄像头", "microscope camera"),
    "power-supply": ("学生电源", "power supply"),
    "3d-printer": ("3D 打印机", "3D printer"),
    "laser-cutter": ("激光切割机", "laser cutter"),
    "incubator": ("培养箱", "incubator"),
    "fume-hood": ("通风橱", "fume hood"),
    "camera": ("摄像头", "camera"),
    "smart-plug": ("智能插座", "smart plug"),
    "power-meter": ("电能表", "power meter"),
}
STATE_KEYS = {"in_use": "in_use", "idle": "idle_state", "off": "off", "fault": "fault", "unknown": "unknown"}


def lang_of(request: Request) -> str:
    """The page language: `?lang=`, then the `lang` cookie, else Chinese."""
    for choice in (request.query_params.get("lang"), request.cookies.get("lang")):
        if choice in LANGS:
            return choice
    return "zh"


class Text:
    """`t("key")` → the text in the page's language (the key itself when it has none)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._i = LANGS.index(lang)

    def __call__(self, key: str, **values: object) -> str:
        pair = TEXT.get(key)
        text = pair[self._i] if pair else key
        return text.format(**values) if values else text

    def kind(self, kind: str) -> str:
        """A device kind in words (its code when it is not a known kind)."""
        pair = KIND_NAMES.get(kind)
        return pair[self._i] if pair else kind

    def state(self, state: str) -> str:
        """A device state in words."""
        return self(STATE_KEYS.get(state, state))
