"""The bureau's document layout (FACTS §7, GB/T 9704 as commonly applied) on python-docx: A4 with the 公文
margins, a 方正小标宋 title, 仿宋 body, 黑体 level-1 and 楷体 level-2 headings, East Asian fonts set explicitly
(``w:eastAsia``), the issuing body and date at the end, right-aligned."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from patrol_app.reports.writers import (
    BODY_FONT,
    BODY_PT,
    H1_FONT,
    H2_FONT,
    LINE_PT,
    TABLE_PT,
    TITLE_FONT,
    TITLE_PT,
    _page_number_footer,
    _style_doc,
    set_fonts,
)

BOLD_BODY_FONT = BODY_FONT  # level-3 headings: 仿宋 bold


class Doc:
    """A document being written; :meth:`bytes` returns the .docx."""

    def __init__(self, title: str, number: str = "", issuer_line: str = "") -> None:
        from docx import Document

        self.doc = Document()
        _style_doc(self.doc)
        _page_number_footer(self.doc)
        if issuer_line:
            self.paragraph(issuer_line, font=TITLE_FONT, size=TITLE_PT, align="center", indent=False)
        self.paragraph(title, font=TITLE_FONT, size=TITLE_PT, align="center", indent=False)
        if number:
            self.paragraph(number, align="right", indent=False)
        self.paragraph("", indent=False)

    # --- text ---------------------------------------------------------------------------------------------
    def paragraph(
        self,
        text: str,
        font: tuple[str, str] = BODY_FONT,
        size: float = BODY_PT,
        align: str = "left",
        indent: bool = True,
        bold: bool | None = None,
    ) -> Any:
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Pt

        p = self.doc.add_paragraph()
        p.alignment = {
            "left": WD_ALIGN_PARAGRAPH.JUSTIFY,
            "center": WD_ALIGN_PARAGRAPH.CENTER,
            "right": WD_ALIGN_PARAGRAPH.RIGHT,
        }[align]
        p.paragraph_format.first_line_indent = Pt(size * 2) if indent else Pt(0)
        if size > BODY_PT:  # the title: its own line height
            p.paragraph_format.line_spacing = Pt(size * 1.5)
        if text:
            run = p.add_run(text)
            set_fonts(run._element, font[0], font[1], size, bold)
        return p

    def h1(self, text: str) -> None:
        self.paragraph(text, font=H1_FONT, bold=False)

    def h2(self, text: str) -> None:
        self.paragraph(text, font=H2_FONT, bold=False)

    def fields(self, rows: Sequence[tuple[str, str]]) -> None:
        """A two-column table of labelled values (label in 黑体)."""
        from docx.shared import Mm

        table = self.doc.add_table(rows=0, cols=2)
        table.style = "Table Grid"
        for label, value in rows:
            cells = table.add_row().cells
            self._cell(cells[0], label, H1_FONT)
            self._cell(cells[1], value, BODY_FONT)
        for row in table.rows:
            row.cells[0].width, row.cells[1].width = Mm(38), Mm(118)
        self.paragraph("", indent=False)

    def _cell(self, cell: Any, text: str, font: tuple[str, str]) -> None:
        p = cell.paragraphs[0]
        p.paragraph_format.first_line_indent = 0
        from docx.shared import Pt

        p.paragraph_format.line_spacing = Pt(TABLE_PT * 1.5)
        run = p.add_run(text)
        set_fonts(run._element, font[0], font[1], TABLE_PT)

    def pictures(self, items: Sequence[tuple[Path, str]], width_mm: float = 45.0) -> None:
        """Thumbnails, each with its caption (file, time, SHA-256) below it."""
        from docx.shared import Mm

        for path, caption in items:
            p = self.paragraph("", indent=False)
            if path.exists():
                p.add_run().add_picture(str(path), width=Mm(width_mm))
            self.paragraph(caption, size=TABLE_PT, indent=False)

    def signature_lines(self, lines: Sequence[str]) -> None:
        for line in lines:
            self.paragraph(line, indent=False)

    def closing(self, issuer: str, date_text: str, seal: str = "") -> None:
        """The issuing body and the date at the end, right-aligned (as the bureau's own documents end)."""
        self.paragraph("", indent=False)
        if seal:
            self.paragraph(seal, align="right", indent=False)
        self.paragraph(issuer, align="right", indent=False)
        self.paragraph(date_text, align="right", indent=False)

    def bytes(self) -> bytes:
        buf = io.BytesIO()
        self.doc.save(buf)
        return buf.getvalue()


__all__ = ["Doc", "BODY_FONT", "H1_FONT", "H2_FONT", "TITLE_FONT", "BODY_PT", "TITLE_PT", "LINE_PT"]
