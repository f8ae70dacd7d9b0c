"""The page registry: which pages exist and which permission each needs. One line per page."""

from __future__ import annotations

from dataclasses import dataclass

from patrol_app.domain.rules import Perm


@dataclass(frozen=True)
class PageSpec:
    path: str  # relative to the folder holding patrol_app (a checkout, or site-packages)
    title_key: str  # catalog key
    icon: str
    url_path: str
    perm: Perm
    default: bool = False


PAGES: list[PageSpec] = [
    PageSpec(
        "patrol_app/ui/pages/overview.py", "nav.overview", ":material/dashboard:", "overview", Perm.VIEW, True
    ),
    PageSpec(
        "patrol_app/ui/pages/patrol.py", "nav.patrol", ":material/directions_car:", "patrol", Perm.LOG_PATROL
    ),
    PageSpec(
        "patrol_app/ui/pages/incident.py",
        "nav.incident",
        ":material/add_location_alt:",
        "incident",
        Perm.LOG_INCIDENT,
    ),
    PageSpec(
        "patrol_app/ui/pages/followup.py",
        "nav.followup",
        ":material/task_alt:",
        "followup",
        Perm.UPDATE_INCIDENT,
    ),
    PageSpec(
        "patrol_app/ui/pages/records.py", "nav.mine", ":material/history:", "records", Perm.LOG_INCIDENT
    ),
    PageSpec("patrol_app/ui/pages/locate.py", "nav.locate", ":material/pin_drop:", "locate", Perm.VIEW),
    PageSpec("patrol_app/ui/pages/roads.py", "nav.roads", ":material/route:", "roads", Perm.VIEW),
    # --- pages of other areas: add one PageSpec line each below ---
    PageSpec("patrol_app/ui/pages/cases.py", "nav.cases", ":material/gavel:", "cases", Perm.FOLLOW_CASES),
    PageSpec(
        "patrol_app/ui/pages/admin.py",
        "nav.admin",
        ":material/admin_panel_settings:",
        "admin",
        Perm.MANAGE_USERS,
    ),
    PageSpec("patrol_app/ui/pages/report.py", "nav.report", ":material/summarize:", "report", Perm.EXPORT),
    PageSpec("patrol_app/ui/pages/incident_map.py", "nav.incident_map", ":material/map:", "map", Perm.VIEW),
    PageSpec(
        "patrol_app/ui/pages/imports.py",
        "nav.imports",
        ":material/upload_file:",
        "imports",
        Perm.IMPORT_LEDGER,
    ),
    PageSpec(
        "patrol_app/ui/pages/audit_log.py",
        "nav.audit_log",
        ":material/history:",
        "audit_log",
        Perm.VIEW_AUDIT_LOG,
    ),
]
