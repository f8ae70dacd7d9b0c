"""Roles, permissions, statuses and measures: plain data, shared by services and UI."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OFFICER = "officer"  # 路政员
    SQUAD_LEADER = "squad_leader"  # 中队长
    REVIEWER = "reviewer"  # 法制审核
    MANAGER = "manager"  # 局领导 / 管理者
    ADMIN = "admin"  # 系统管理员


class Perm(StrEnum):
    LOG_PATROL = "log_patrol"
    LOG_INCIDENT = "log_incident"
    UPDATE_INCIDENT = "update_incident"
    IMPORT_LEDGER = "import_ledger"
    MANAGE_ROADS = "manage_roads"
    MANAGE_REGISTRY = "manage_registry"
    MANAGE_USERS = "manage_users"
    VIEW = "view"
    VIEW_PARTY = "view_party"
    EXPORT = "export"
    VERIFY_AUDIT = "verify_audit"
    LOAD_DEMO = "load_demo"
    OPEN_CASE = "open_case"  # 立案 and investigate
    REVIEW_CASE = "review_case"  # 法制审核
    DECIDE_CASE = "decide_case"  # 决定
    FOLLOW_CASES = "follow_cases"  # see the case list
    SUPERVISE = "supervise"  # change any crew's patrols and incidents; reopen a closed incident (中队长)
    VIEW_AUDIT_LOG = "view_audit_log"  # the audit-log page (administrators)
    ROLLBACK_IMPORT = "rollback_import"  # remove a whole imported ledger batch


PERMISSIONS: dict[Role, frozenset[Perm]] = {
    Role.OFFICER: frozenset(
        {
            Perm.VIEW,
            Perm.LOG_PATROL,
            Perm.LOG_INCIDENT,
            Perm.UPDATE_INCIDENT,
            Perm.VIEW_PARTY,
            Perm.OPEN_CASE,
            Perm.FOLLOW_CASES,
        }
    ),
    Role.SQUAD_LEADER: frozenset(
        {
            Perm.VIEW,
            Perm.LOG_PATROL,
            Perm.LOG_INCIDENT,
            Perm.UPDATE_INCIDENT,
            Perm.VIEW_PARTY,
            Perm.IMPORT_LEDGER,
            Perm.EXPORT,
            Perm.OPEN_CASE,
            Perm.FOLLOW_CASES,
            Perm.SUPERVISE,
        }
    ),
    Role.REVIEWER: frozenset({Perm.VIEW, Perm.VIEW_PARTY, Perm.EXPORT, Perm.REVIEW_CASE, Perm.FOLLOW_CASES}),
    Role.MANAGER: frozenset(
        {Perm.VIEW, Perm.EXPORT, Perm.IMPORT_LEDGER, Perm.DECIDE_CASE, Perm.FOLLOW_CASES}
    ),
    # administrators run the system (accounts, roads, registries, backups); they do not enforce
    Role.ADMIN: frozenset(
        set(Perm)
        - {
            Perm.LOG_PATROL,
            Perm.LOG_INCIDENT,
            Perm.UPDATE_INCIDENT,
            Perm.OPEN_CASE,
            Perm.REVIEW_CASE,
            Perm.DECIDE_CASE,
            Perm.VIEW_PARTY,
            Perm.SUPERVISE,
        }
    ),
}


def allowed(role: str, perm: Perm) -> bool:
    try:
        return perm in PERMISSIONS[Role(role)]
    except ValueError:
        return False


class Status(StrEnum):
    OPEN = "open"  # 未办结 (ledgers may write 办理中)
    CLOSED = "closed"  # 已办结


STATUS_ALIASES = {
    "open": Status.OPEN,
    "未办结": Status.OPEN,
    "办理中": Status.OPEN,
    "在办": Status.OPEN,
    "处理中": Status.OPEN,
    "未结": Status.OPEN,
    "待处理": Status.OPEN,
    "closed": Status.CLOSED,
    "已办结": Status.CLOSED,
    "办结": Status.CLOSED,
    "已结案": Status.CLOSED,
    "结案": Status.CLOSED,
    "已处理": Status.CLOSED,
    "已整改": Status.CLOSED,
    "已完成": Status.CLOSED,
}

#: Weather choices of a patrol (labels ``weather.<code>`` in the catalogs; stored as the Chinese label).
WEATHER = ("sunny", "cloudy", "overcast", "light_rain", "heavy_rain", "fog")

MEASURES = ("persuasion", "order_correct", "case", "transfer")
MEASURE_ALIASES = {
    "persuasion": "persuasion",
    "现场劝导": "persuasion",
    "说服教育": "persuasion",
    "劝导": "persuasion",
    "现场劝导/说服教育": "persuasion",
    "批评教育": "persuasion",
    "order_correct": "order_correct",
    "责令限期改正": "order_correct",
    "责令改正": "order_correct",
    "限期整改": "order_correct",
    "责令整改": "order_correct",
    "case": "case",
    "立案查处": "case",
    "立案": "case",
    "transfer": "transfer",
    "移交其他部门": "transfer",
    "移交": "transfer",
    "移送": "transfer",
}

SIDE_ALIASES = {
    "left": "left",
    "左": "left",
    "左侧": "left",
    "l": "left",
    "right": "right",
    "右": "right",
    "右侧": "right",
    "r": "right",
}
