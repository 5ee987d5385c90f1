"""The numbered error catalogue every part of OneWindow Edge answers with.

Each problem has a stable code (``OW-nnnn``), an HTTP status, and a title a window clerk can act on (Chinese,
with the English beside it for logs). A raised `OneWindowError` carries the code, the field at fault and the
reason; the web layer turns it into an ``application/problem+json`` response, services never raise HTTP errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Problem:
    """One entry of the catalogue."""

    code: str
    status: int
    title: str
    title_en: str


def _p(code: int, status: int, title: str, title_en: str) -> Problem:
    return Problem(f"OW-{code:04d}", status, title, title_en)


# 10xx: input
VALIDATION = _p(1001, 422, "输入有误", "invalid input")
MALFORMED_REQUEST = _p(1002, 400, "请求格式错误", "malformed request body")
NOT_FOUND = _p(1003, 404, "找不到该记录", "not found")
UNKNOWN_ITEM = _p(1004, 422, "事项不存在", "unknown catalogue item")
ID_NUMBER_INVALID = _p(1005, 422, "证件号码无效", "invalid certificate number")
REQUIRED_FIELD = _p(1006, 422, "必填项为空", "required field is empty")
FILE_REJECTED = _p(1007, 422, "文件不符合要求", "file rejected")
BODY_TOO_LARGE = _p(1008, 413, "提交的内容超过上限，未处理", "request body too large")
# 11xx: who you are
AUTH_REQUIRED = _p(1101, 401, "请先登录", "authentication required")
FORBIDDEN = _p(1102, 403, "无权进行此操作", "not allowed for this role")
LOGIN_FAILED = _p(1103, 401, "用户名或密码错误", "wrong username or password")
REQUEST_SIGNATURE_INVALID = _p(1104, 401, "节点请求签名无效", "node request signature invalid")
ACCOUNT_LOCKED = _p(1105, 423, "账号已锁定，请稍后再试", "account locked after repeated failed logins")
SESSION_EXPIRED = _p(1106, 401, "登录已失效，请重新登录", "session expired or account changed")
# 12xx: logs, entries, receipts, enrolment
ENTRY_SIGNATURE_INVALID = _p(1201, 422, "条目签名无效（可能被篡改或伪造）", "entry signature invalid")
ENTRY_MALFORMED = _p(1202, 400, "条目格式错误", "entry malformed")
ENTRY_DUPLICATE = _p(1203, 200, "条目已接收（重复提交，未作更改）", "entry already received")
ENTRY_FORK = _p(
    1204, 409, "同一序号内容不同（分叉），已隔离", "same seq with different content: fork quarantined"
)
ENTRY_GAP = _p(1205, 409, "序号不连续，请从中心记录的位置重发", "gap in sequence: resend from central's head")
ENTRY_CHAIN_BROKEN = _p(1206, 409, "哈希链不连续", "prev_hash does not match the head")
ENTRY_UNDECRYPTABLE = _p(1207, 422, "条目无法解密", "entry cannot be decrypted")
ENTRY_POISONED = _p(1208, 422, "条目内容无法应用，已隔离", "entry cannot be applied: quarantined")
NODE_UNKNOWN = _p(1209, 403, "未知或未注册的节点", "unknown node")
NODE_REVOKED = _p(1210, 403, "节点已吊销", "node revoked")
ENROLMENT_INVALID = _p(1211, 403, "注册凭证无效、已使用或已过期", "enrolment secret invalid, used or expired")
BUNDLE_INVALID = _p(1212, 422, "注册包无效（签名、县或有效期不符）", "enrolment bundle invalid")
EVENT_CONFLICT = _p(1213, 409, "同一事件编号内容不同", "same event id with different content")
RECEIPT_INVALID = _p(1214, 422, "回执签名无效", "receipt signature invalid")
PROTOCOL_UNSUPPORTED = _p(1215, 400, "协议版本不受支持", "unsupported protocol version")
NODE_PROTOCOL_REFUSED = _p(
    1222,
    426,
    "节点与县中心的软件版本不兼容，请按提示升级",
    "node protocol version outside what central accepts",
)
UPLOAD_OFFSET_CONFLICT = _p(1216, 409, "附件续传位置不符，请按中心记录的位置续传", "upload offset mismatch")
ENTRY_TOO_LARGE = _p(
    1221,
    413,
    "条目超过县中心的接收上限：已存储并隔离，其后的条目照常接收",
    "entry too large: stored and quarantined",
)
UPLOAD_CHECKSUM_MISMATCH = _p(1220, 460, "附件分块校验和不符，未写入", "upload chunk checksum mismatch")
ATTACHMENT_MISMATCH = _p(1217, 422, "附件解密后的哈希与声明不符，已丢弃", "attachment hash does not match")
COURIER_FILE_INVALID = _p(
    1218, 422, "同步文件无效（签名、节点或内容校验不符），整份拒收", "courier file invalid: refused whole"
)
STATEMENT_INVALID = _p(1219, 422, "中心应答签名无效", "signed statement invalid")
# 13xx: case workflow
INVALID_TRANSITION = _p(1301, 409, "当前办件状态不允许此操作", "not allowed in the case's current state")
MATERIALS_INCOMPLETE = _p(1302, 409, "必备材料未齐，不能受理", "mandatory materials missing")
MATERIAL_NOT_WAIVABLE = _p(1303, 422, "该材料不允许容缺", "material may not be waived")
IDENTITY_MISMATCH = _p(1304, 403, "领取人不是申请人或登记的代理人", "collector is not the applicant or agent")
NUMBER_RANGE_EXHAUSTED = _p(1305, 409, "本节点的编号段已用完，请联系县级管理员", "number range exhausted")
DEADLINE_INVALID = _p(1306, 422, "期限不符合规定", "deadline not allowed")
# 19xx: the server itself
INTERNAL_ERROR = _p(
    1901,
    500,
    "服务器内部错误，已记录；请稍后重试，或联系管理员",
    "internal error (logged with its traceback)",
)

CATALOGUE: tuple[Problem, ...] = tuple(v for v in list(globals().values()) if isinstance(v, Problem))


class OneWindowError(Exception):
    """A catalogued problem with the field at fault and a reason for people."""

    def __init__(self, problem: Problem, reason: str = "", *, field: str | None = None, **extra: Any) -> None:
        self.problem = problem
        self.reason = reason or problem.title
        self.field = field
        self.extra = extra
        super().__init__(f"{problem.code} {problem.title_en}: {field + ': ' if field else ''}{self.reason}")

    @property
    def code(self) -> str:
        return self.problem.code

    def to_problem_json(self) -> dict[str, Any]:
        """RFC 9457 problem details, with our code, field and reason."""
        body: dict[str, Any] = {
            "type": f"urn:onewindow:problem:{self.problem.code}",
            "title": self.problem.title,
            "status": self.problem.status,
            "code": self.problem.code,
            "detail": self.reason,
        }
        if self.field:
            body["field"] = self.field
        body.update(self.extra)
        return body
