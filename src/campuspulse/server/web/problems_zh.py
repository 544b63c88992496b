"""The row problems of an uploaded workbook in Chinese, for the dashboard's Chinese pages: the checks' messages
(pydantic's and our own) matched by shape; a message of no known shape is shown as it is."""

import re

_GOT = re.compile(r"\s*\(got (?P<got>.*)\)$")
_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), text)
    for pattern, text in (
        (r"^Input should be a valid integer.*$", "应为整数"),
        (r"^Input should be a valid number.*$", "应为数字"),
        (r"^Input should be a valid decimal.*$", "应为金额（数字，最多两位小数）"),
        (r"^Decimal input should have no more than (\d+) decimal places?$", r"最多 \1 位小数"),
        (r"^Input should be greater than or equal to (.+)$", r"应不小于 \1"),
        (r"^Input should be greater than (.+)$", r"应大于 \1"),
        (r"^Input should be less than or equal to (.+)$", r"应不大于 \1"),
        (r"^Input should be less than (.+)$", r"应小于 \1"),
        (r"^Field required$", "必填"),
        (r"^Input should be a valid date.*$", "应为日期 YYYY-MM-DD"),
        (r"^Input should be (.+) or (.+)$", r"应为 \1 或 \2"),
        (r"^Input should be (.+)$", r"应为 \1"),
        (r"^String should have at least 1 character$", "不能为空"),
        (r"^String should have at most (\d+) characters?$", r"不超过 \1 个字符"),
        (r"^String should match pattern .*$", "格式不对"),
        (r"^a number of units, not TRUE/FALSE$", "应为数量，不是 TRUE/FALSE"),
        (r"^an id of letters, digits, - and _$", "编号只能含字母、数字、- 和 _"),
        (r"^(.+) is not a room of this school$", r"\1 不是本校的房间"),
        (r"^(.+) is not a device of this school$", r"\1 不是本校的设备"),
        (r"^房间, 设备 or 设备类型 expected$", "应为 房间、设备 或 设备类型"),
        (r"^only an admin names device kinds.*$", "设备类型名称全市共用，只有管理员可以修改"),
        (r"^(.+) is already on row (\d+)$", r"\1 与第 \2 行重复"),
        (r"^not an \.xlsx workbook.*$", "不是 .xlsx 工作簿"),
        (r"^the workbook unpacks to (\d+) MB, more than (.+)$", r"工作簿解压后 \1 MB，超过上限 \2"),
        (r"^the workbook cannot be read.*$", "工作簿无法读取"),
        (r"^header row lacks the columns (.+)$", r"表头缺少列 \1"),
        (r"^more than (.+) rows: split the file$", r"超过 \1 行，请分成几个文件"),
        (r"^dates from (.+) to (.+) are supported$", r"日期应在 \1 到 \2 之间"),
        (r"^(\S+) is outside the supported dates, (\S+) to (\S+)$", r"\1 超出支持的日期范围（\2 至 \3）"),
    )
)


def problem_zh(message: str) -> str:
    """`message` in Chinese, with what the cell held (原值) kept."""
    got = _GOT.search(message)
    head = message[: got.start()] if got else message
    for pattern, text in _SHAPES:
        if pattern.match(head):
            head = pattern.sub(text, head)
            break
    else:
        return message
    if got is None:
        return head
    held = got["got"] if len(got["got"]) <= 40 else got["got"][:40] + "…"
    return f"{head}（原值 {held}）"
